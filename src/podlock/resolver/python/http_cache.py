"""HTTP for the pure-Python resolver: pooled keep-alive connections, basic auth per host,
and an on-disk cache of index pages revalidated with ETag / Last-Modified.

Files are immutable once published, so only Simple API pages go through the cache;
metadata is cached by file hash elsewhere. A page that comes back unchanged (same sha256)
is not written again. Credentials travel in headers only and never reach a message or
the disk: every URL shown goes through ``redact``, every URL stored through
``strip_credentials``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from podlock.errors import IndexError_
from podlock.inputs.indexes import Index, auth_headers
from podlock.urls import basic_auth, redact, strip_credentials

_MAX_REDIRECTS = 5
_RETRIES = 2
# Addresses are looked up once per host and kept this long (seconds), not once per
# connection: every pool thread opens its own, and a lookup can stall (measured: 1 in ~10
# took 5 s on the benchmark machine, so 16 lookups per run nearly always hit one).
_DNS_TTL = 60.0


@dataclass(frozen=True, kw_only=True)
class Response:
    """A finished response; ``url`` is the final one after redirects."""

    status: int
    body: bytes
    headers: Mapping[str, str]  # lower-cased names
    url: str
    from_cache: bool = False
    sha256: str = field(init=False)  # of the body (3.11's cached_property would serialize)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.body).hexdigest())


class HttpClient:
    """Thread-safe GETs with per-thread connection reuse. Cost: one TCP/TLS setup per
    host and thread, then one round trip per request."""

    def __init__(
        self,
        *,
        indexes: Sequence[Index] = (),
        cache: Path | None = None,
        offline: bool = False,
        timeout: float = 60.0,
    ) -> None:
        self.cache = cache
        self.offline = offline
        self.timeout = timeout
        self._auth = auth_headers(indexes)
        self._credentials = {(i.url, i.username, i.password) for i in indexes}
        self._local = threading.local()
        self._ssl = ssl.create_default_context()

    # -- public -----------------------------------------------------------

    def knows(self, indexes: Sequence[Index]) -> bool:
        """Whether this client was made with the credentials of all ``indexes``."""
        return {(i.url, i.username, i.password) for i in indexes} <= self._credentials

    def get(self, url: str, *, accept: str | None = None, cached: bool = False) -> Response:
        """GET following redirects; ``cached`` pages are stored and revalidated. Cost: the
        cached body is read only when it is the answer (offline, or 304)."""
        key = _cache_key(url, accept) if cached and self.cache is not None else None
        meta = self._load_meta(key) if key else None
        headers: dict[str, str] = {}
        if accept:
            headers["Accept"] = accept
        if key and meta is not None:
            if self.offline:
                entry = self._load(key, meta)
                if entry is not None:
                    return entry
            stored = meta["headers"]
            if "etag" in stored:
                headers["If-None-Match"] = stored["etag"]
            if "last-modified" in stored:
                headers["If-Modified-Since"] = stored["last-modified"]
        response = self._request("GET", url, headers)
        if key and meta is not None and response.status == 304:
            entry = self._load(key, meta)
            if entry is not None:
                return entry
            headers.pop("If-None-Match", None)  # the body is gone: ask for it again
            headers.pop("If-Modified-Since", None)
            response = self._request("GET", url, headers)
        if key and response.status == 200:
            self._store(key, response, meta)
        return response

    def get_range(self, url: str, start: int, end: int | None = None) -> Response:
        """Bytes ``start..end`` (inclusive); ``start < 0`` asks for the last ``-start``."""
        spec = f"bytes={start}" if start < 0 else f"bytes={start}-{'' if end is None else end}"
        return self._request("GET", url, {"Range": spec})

    # -- network ----------------------------------------------------------

    def _request(self, method: str, url: str, headers: Mapping[str, str]) -> Response:
        if self.offline:
            raise IndexError_(
                f"{redact(url)} is not in the cache (--offline)",
                index=redact(url),
                hint="run `podlock lock` once online to fill the cache",
            )
        current = url
        for _ in range(_MAX_REDIRECTS):
            status, body, got = self._send(method, current, headers)
            if status in (301, 302, 303, 307, 308) and "location" in got:
                current = urljoin(current, got["location"])
                continue
            return Response(status=status, body=body, headers=got, url=current)
        raise IndexError_(f"too many redirects from {redact(url)}", index=redact(url))

    def _send(
        self, method: str, url: str, headers: Mapping[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        sent = {"User-Agent": "podlock", "Accept-Encoding": "identity", **headers}
        auth = self._auth.get(parts.netloc) or _userinfo_auth(url)
        if auth:
            sent["Authorization"] = auth
        last: Exception | None = None
        for attempt in range(_RETRIES + 1):
            conn = self._connection(parts.scheme, parts.netloc, fresh=attempt > 0)
            try:
                conn.request(method, path, headers=sent)
                resp = conn.getresponse()
                body = resp.read()
                got = {k.lower(): v for k, v in resp.getheaders()}
                if resp.will_close:
                    self._drop(parts.scheme, parts.netloc)
                return resp.status, body, got
            except (http.client.HTTPException, OSError) as exc:
                last = exc
                self._drop(parts.scheme, parts.netloc)
        shown = redact(strip_credentials(url))
        raise IndexError_(
            f"could not fetch {shown}: {last}",
            index=shown,
            hint="check the index URL in your requirements/config and your network",
        )

    def _connection(self, scheme: str, netloc: str, *, fresh: bool) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "pool", {}
        )
        key = (scheme, netloc)
        if fresh or key not in pool:
            self._drop(scheme, netloc)
            host = netloc.rsplit("@", 1)[-1]
            if scheme == "https":
                pool[key] = _HTTPSConnection(host, timeout=self.timeout, context=self._ssl)
            elif scheme == "http":
                pool[key] = _HTTPConnection(host, timeout=self.timeout)
            else:
                raise IndexError_(f"unsupported URL scheme {scheme!r}", index=netloc)
        return pool[key]

    def _drop(self, scheme: str, netloc: str) -> None:
        pool = self._local.__dict__.get("pool", {})
        conn = pool.pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    # -- cache ------------------------------------------------------------

    def _load_meta(self, key: str) -> dict[str, Any] | None:
        assert self.cache is not None
        try:
            meta = json.loads((self.cache / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        if not (
            isinstance(meta, dict)
            and isinstance(meta.get("headers"), dict)
            and isinstance(meta.get("url"), str)
        ):
            return None
        return meta

    def _load(self, key: str, meta: Mapping[str, Any]) -> Response | None:
        """The stored page; None when its body is missing or not the one recorded."""
        assert self.cache is not None
        try:
            body = (self.cache / f"{key}.body").read_bytes()
        except OSError:
            return None
        entry = Response(
            status=200, body=body, headers=meta["headers"], url=meta["url"], from_cache=True
        )
        if meta.get("sha256", entry.sha256) != entry.sha256:
            return None
        return entry

    def _store(self, key: str, response: Response, old: Mapping[str, Any] | None) -> None:
        assert self.cache is not None
        kept = {
            k: v
            for k, v in response.headers.items()
            if k in ("etag", "last-modified", "content-type")
        }
        meta = {"url": strip_credentials(response.url), "headers": kept, "sha256": response.sha256}
        body = self.cache / f"{key}.body"
        if meta == old and _size(body) == len(response.body):
            return  # unchanged: most pages on most runs
        self.cache.mkdir(parents=True, exist_ok=True)
        write_file(body, response.body)
        write_file(self.cache / f"{key}.json", json.dumps(meta).encode())


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _connect


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _connect


_addresses: dict[tuple[str, int], tuple[float, list[Any]]] = {}
_addresses_lock = threading.Lock()


def _connect(
    address: tuple[str, int], timeout: float | None, source: tuple[str, int] | None = None
) -> socket.socket:
    """``socket.create_connection`` with the addresses of ``_lookup``."""
    last: OSError | None = None
    for family, kind, proto, _, sockaddr in _lookup(*address):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            if source:
                sock.bind(source)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            last = exc
            sock.close()
    raise last or OSError(f"no address for {address[0]}")


def _lookup(host: str, port: int) -> list[Any]:
    """``getaddrinfo`` once per host and ``_DNS_TTL`` for the whole process (one lookup at a
    time: the threads that open connections together wait for the first one's answer)."""
    with _addresses_lock:
        now = time.monotonic()
        hit = _addresses.get((host, port))
        if hit is None or now - hit[0] > _DNS_TTL:
            hit = (now, socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
            _addresses[(host, port)] = hit
        return hit[1]


def _cache_key(url: str, accept: str | None) -> str:
    return hashlib.sha256(f"{strip_credentials(url)}\n{accept or ''}".encode()).hexdigest()


def _userinfo_auth(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    return basic_auth(parts.username, parts.password)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def write_file(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically: readers see the old file or the new one, never a part."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
