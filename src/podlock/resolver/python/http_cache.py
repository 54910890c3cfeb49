"""HTTP for the pure-Python resolver: pooled keep-alive connections, basic auth per host,
and an on-disk cache of index pages revalidated with ETag / Last-Modified.

Files are immutable once published, so only Simple API pages go through the cache;
metadata is cached by file hash elsewhere. Credentials travel in headers only and never
reach a message: every URL shown goes through ``redact``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from podlock.errors import IndexError_
from podlock.resolver.indexes import Index, auth_headers
from podlock.urls import basic_auth, redact, strip_credentials

_MAX_REDIRECTS = 5
_RETRIES = 2


@dataclass(frozen=True, kw_only=True)
class Response:
    """A finished response; ``url`` is the final one after redirects."""

    status: int
    body: bytes
    headers: Mapping[str, str]  # lower-cased names
    url: str
    from_cache: bool = False


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
        """GET following redirects; ``cached`` pages are stored and revalidated."""
        key = _cache_key(url, accept) if cached and self.cache is not None else None
        entry = self._load(key) if key else None
        headers: dict[str, str] = {}
        if accept:
            headers["Accept"] = accept
        if entry is not None:
            if self.offline:
                return entry
            if "etag" in entry.headers:
                headers["If-None-Match"] = entry.headers["etag"]
            if "last-modified" in entry.headers:
                headers["If-Modified-Since"] = entry.headers["last-modified"]
        response = self._request("GET", url, headers)
        if response.status == 304 and entry is not None:
            return entry
        if key and response.status == 200:
            self._store(key, response)
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
                pool[key] = http.client.HTTPSConnection(
                    host, timeout=self.timeout, context=self._ssl
                )
            elif scheme == "http":
                pool[key] = http.client.HTTPConnection(host, timeout=self.timeout)
            else:
                raise IndexError_(f"unsupported URL scheme {scheme!r}", index=netloc)
        return pool[key]

    def _drop(self, scheme: str, netloc: str) -> None:
        pool = self._local.__dict__.get("pool", {})
        conn = pool.pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    # -- cache ------------------------------------------------------------

    def _load(self, key: str) -> Response | None:
        assert self.cache is not None
        try:
            meta = json.loads((self.cache / f"{key}.json").read_text())
            body = (self.cache / f"{key}.body").read_bytes()
        except (OSError, ValueError):
            return None
        return Response(
            status=200, body=body, headers=meta["headers"], url=meta["url"], from_cache=True
        )

    def _store(self, key: str, response: Response) -> None:
        assert self.cache is not None
        self.cache.mkdir(parents=True, exist_ok=True)
        kept = {
            k: v
            for k, v in response.headers.items()
            if k in ("etag", "last-modified", "content-type")
        }
        _write(self.cache / f"{key}.body", response.body)
        meta = {"url": strip_credentials(response.url), "headers": kept}
        _write(self.cache / f"{key}.json", json.dumps(meta).encode())


def _cache_key(url: str, accept: str | None) -> str:
    return hashlib.sha256(f"{strip_credentials(url)}\n{accept or ''}".encode()).hexdigest()


def _userinfo_auth(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    return basic_auth(parts.username, parts.password)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
