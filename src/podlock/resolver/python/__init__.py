"""The pure-Python resolver backend (resolvelib + packaging): ``backend.PythonBackend``.

Nothing is imported here: the uv backend reads a constant or two from this package, and
must not pay for resolvelib (~0.1 s) on every ``podlock lock``.
"""
