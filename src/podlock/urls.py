"""Index URLs: credential redaction and ``${VAR}`` expansion.

Credentials live only in memory at use time; everything shown or written goes through
``redact``.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def expand_vars(text: str, env: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """Expand ``${VAR}`` like pip does; returns the text and the names that were unset."""
    env = os.environ if env is None else env
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            missing.append(name)
            return m.group(0)
        return env[name]

    return _VAR.sub(sub, text), missing


def redact(text: str) -> str:
    """Replace any ``user:token@`` in URLs inside ``text`` with ``***@``."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)


def strip_credentials(url: str) -> str:
    """The URL without its userinfo: the form that may be written into a lock."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def basic_auth(username: str | None, password: str | None) -> str:
    """The ``Authorization`` header value for HTTP basic auth."""
    token = f"{username or ''}:{password or ''}".encode()
    return "Basic " + base64.b64encode(token).decode()


def filename_of(url: str | None, path: str | None) -> str:
    """The file name a URL or path points to, percent-decoded (``torch-2.4.0+cpu-...``)."""
    return unquote((url or path or "").rsplit("/", 1)[-1].split("#")[0])


def normalize_index(url: str) -> str:
    """Index URLs compare equal with or without a trailing slash."""
    return url.rstrip("/")
