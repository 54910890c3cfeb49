"""The pure-Python resolver backend (resolvelib + packaging): ``PythonBackend``."""

from podlock.resolver.python.backend import PythonBackend

__all__ = ["PythonBackend"]
