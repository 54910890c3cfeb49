"""The resolver: inputs → one PEP 751 lock per variant (uv or pure-Python backend)."""

from __future__ import annotations

from podlock.errors import ConfigError
from podlock.resolver.model import Backend


def backend(name: str) -> Backend:
    """The backend named in config or on the command line."""
    if name == "uv":
        from podlock.resolver.uv_backend import UvBackend

        return UvBackend()
    if name == "python":
        from podlock.resolver.python.backend import PythonBackend

        return PythonBackend()
    raise ConfigError(f"unknown resolver {name!r}", hint='use resolver = "uv" or "python"')
