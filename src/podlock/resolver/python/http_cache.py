"""HTTP for the pure-Python resolver: ``podlock.http`` (pooled keep-alive connections,
retries, basic auth per host) plus an on-disk cache of index pages revalidated with ETag /
Last-Modified.

Files are immutable once published, so only Simple API pages go through the cache;
metadata is cached by file hash elsewhere. A page that comes back unchanged (same sha256)
is not written again. Credentials travel in headers only and never reach a message or
the disk: every URL shown goes through ``redact``, every URL stored through
``strip_credentials``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from podlock import http
from podlock.atomic import write_entry
from podlock.errors import IndexError_
from podlock.inputs.indexes import Index, auth_headers
from podlock.urls import redact, strip_credentials

_MAX_REDIRECTS = 5


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
    """Thread-safe GETs through one ``http.Client``. Cost: one TCP/TLS setup per pooled
    connection, then one round trip per request."""

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
        self._credentials = {(i.url, i.username, i.password) for i in indexes}
        policy = http.Policy(timeout=(min(timeout, 10.0), timeout))
        self._http = http.Client(auth=auth_headers(indexes), policy=policy)

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
        sent = {"Accept-Encoding": "identity", **headers}
        try:
            response = self._http.request(method, url, ok=None, headers=sent, redirects=False)
        except http.HttpError as exc:
            shown = redact(strip_credentials(url))
            raise IndexError_(
                exc.message,
                index=shown,
                hint="check the index URL in your requirements/config and your network",
            ) from None
        return (
            response.status_code,
            response.content,
            {k.lower(): v for k, v in response.headers.items()},
        )

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
        write_entry(body, response.body)
        write_entry(self.cache / f"{key}.json", json.dumps(meta).encode())


def _cache_key(url: str, accept: str | None) -> str:
    return hashlib.sha256(f"{strip_credentials(url)}\n{accept or ''}".encode()).hexdigest()


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
