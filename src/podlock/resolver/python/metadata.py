"""Core metadata (dependencies, Requires-Python) of a distribution file, without
downloading wheels when it can be helped.

In order: the PEP 658/714 ``.metadata`` file; ``METADATA`` read out of the wheel with HTTP
range requests (the zip's central directory sits at its end: two or three small requests
even for libtpu's 214 MB wheel); a full download when the server ignores ranges; for an
sdist, its ``PKG-INFO`` (or setuptools' ``requires.txt``). Results are cached on disk by
the file's sha256, which never changes meaning, so a warm run fetches none of them.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import threading
import zipfile
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Any, BinaryIO

from podlock.atomic import write_entry
from podlock.errors import IndexError_, PodlockError
from podlock.resolver.python.http_cache import HttpClient
from podlock.resolver.python.simple_api import Dist
from podlock.urls import redact

_TAIL = 64 * 1024  # one request usually covers the end of central directory and the directory
_BLOCK = 64 * 1024


@dataclass(frozen=True, kw_only=True)
class CoreMetadata:
    """What resolution needs from a distribution's metadata."""

    requires_dist: tuple[str, ...]
    requires_python: str | None = None
    provides_extra: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any) -> CoreMetadata:
        """Raises KeyError, TypeError or ValueError when ``data`` is not ``to_dict``'s."""
        requires_python = data["requires_python"]
        if requires_python is not None and not isinstance(requires_python, str):
            raise ValueError("requires_python is not a string")
        return cls(
            requires_dist=tuple(str(r) for r in data["requires_dist"]),
            requires_python=requires_python,
            provides_extra=tuple(str(e) for e in data["provides_extra"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "requires_dist": list(self.requires_dist),
            "requires_python": self.requires_python,
            "provides_extra": list(self.provides_extra),
        }

    @classmethod
    def parse(cls, text: str) -> CoreMetadata:
        msg = HeaderParser().parsestr(text)
        return cls(
            requires_dist=tuple(msg.get_all("Requires-Dist") or ()),
            requires_python=(msg.get("Requires-Python") or "").strip() or None,
            provides_extra=tuple(msg.get_all("Provides-Extra") or ()),
        )


class MetadataStore:
    """Metadata per dist: memoized, fetched in the pool, cached on disk by sha256."""

    def __init__(self, http: HttpClient, pool: Executor, cache: Path | None) -> None:
        self.http = http
        self.pool = pool
        self.cache = cache
        self._futures: dict[str, Future[CoreMetadata]] = {}
        self._preloaded: set[str] = set()
        self._asked: dict[str, None] = {}  # an ordered set: asked for since ``forget_asked``
        self._lock = threading.Lock()
        self.sources: dict[str, str] = {}  # filename -> how it was read (for tests, bench)

    def preload(self, known: Mapping[str, CoreMetadata]) -> None:
        """Take metadata read before (keyed as here) into memory: no disk read for those."""
        with self._lock:
            for key, meta in known.items():
                if key not in self._futures:
                    self._futures[key] = _done(meta)
                    self._preloaded.add(key)

    def forget_asked(self) -> None:
        with self._lock:
            self._asked.clear()

    def asked(self) -> dict[str, CoreMetadata]:
        """The metadata asked for since ``forget_asked`` that has been read, by key."""
        with self._lock:
            # A prefetch in flight has marked its key asked but may not have its future yet.
            futures = [(key, self._futures[key]) for key in self._asked if key in self._futures]
        return {
            key: future.result()
            for key, future in futures
            if future.done() and not future.cancelled() and future.exception() is None
        }

    def prefetch(self, dist: Dist) -> Future[CoreMetadata]:
        """Start reading ``dist``'s metadata. From the disk cache it is read right here, not
        queued behind the page fetches in the pool."""
        key = dist.link.sha256 or hashlib.sha256(dist.link.url.encode()).hexdigest()
        with self._lock:
            self._asked[key] = None
            future = self._futures.get(key)
            if key in self._preloaded:
                self.sources.setdefault(dist.link.filename, "cache")
        if future is not None:
            return future
        cached = self._cached(dist, key)
        with self._lock:
            future = self._futures.get(key)
            if future is None:
                future = (
                    self.pool.submit(self._load, dist, key) if cached is None else _done(cached)
                )
                self._futures[key] = future
        return future

    def get(self, dist: Dist) -> CoreMetadata:
        return self.prefetch(dist).result()

    def _cached(self, dist: Dist, key: str) -> CoreMetadata | None:
        if self.cache is None:
            return None
        try:
            meta = CoreMetadata.from_dict(json.loads((self.cache / f"{key}.json").read_bytes()))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self.sources.setdefault(dist.link.filename, "cache")
        return meta

    def _load(self, dist: Dist, key: str) -> CoreMetadata:
        meta = self._fetch(dist)
        if self.cache is not None:
            self.cache.mkdir(parents=True, exist_ok=True)
            write_entry(self.cache / f"{key}.json", json.dumps(meta.to_dict()).encode())
        return meta

    def _fetch(self, dist: Dist) -> CoreMetadata:
        link = dist.link
        if link.metadata:
            response = self.http.get(link.url + ".metadata")
            if (
                link.metadata_sha256
                and response.status == 200
                and hashlib.sha256(response.body).hexdigest() != link.metadata_sha256
            ):
                raise IndexError_(
                    f"{redact(link.url)}.metadata does not match its sha256",
                    index=redact(link.url),
                )
            text = response.body.decode("utf-8", errors="replace")
            # Without a hash from the page (a guess that the index serves it), only a body
            # that reads as core metadata counts: else the wheel itself is read.
            if response.status == 200 and (link.metadata_sha256 or _is_metadata(text)):
                self.sources[link.filename] = "pep658"
                return CoreMetadata.parse(text)
        if link.is_wheel:
            text, how = wheel_metadata(self.http, link.url)
            self.sources[link.filename] = how
            return CoreMetadata.parse(text)
        self.sources[link.filename] = "sdist"
        return sdist_metadata(self._download(link.url), link.filename)

    def _download(self, url: str) -> bytes:
        response = self.http.get(url)
        if response.status != 200:
            raise IndexError_(f"{redact(url)} answered HTTP {response.status}", index=redact(url))
        return response.body


class _RangeFile(io.RawIOBase):
    """A remote file read through range requests, in blocks, for ``zipfile``."""

    def __init__(self, http: HttpClient, url: str, size: int, tail: bytes) -> None:
        self.http = http
        self.url = url
        self.size = size
        self.pos = 0
        self.chunks: list[tuple[int, bytes]] = [(size - len(tail), tail)]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self.size - self.pos)
        if want <= 0:
            return 0
        data = self._bytes(self.pos, self.pos + want)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def _bytes(self, start: int, end: int) -> bytes:
        for offset, chunk in self.chunks:
            if offset <= start and end <= offset + len(chunk):
                return chunk[start - offset : end - offset]
        fetch_end = min(self.size, max(end, start + _BLOCK)) - 1
        response = self.http.get_range(self.url, start, fetch_end)
        if response.status != 206:
            raise _NoRanges
        self.chunks.append((start, response.body))
        return response.body[: end - start]


class _NoRanges(Exception):
    pass


def _done(meta: CoreMetadata) -> Future[CoreMetadata]:
    future: Future[CoreMetadata] = Future()
    future.set_result(meta)
    return future


def wheel_metadata(http: HttpClient, url: str) -> tuple[str, str]:
    """``METADATA`` of the wheel at ``url`` and how it was read ("range" or "download")."""
    response = http.get_range(url, -_TAIL)
    total = _total_size(response.headers.get("content-range", ""))
    if response.status == 206 and total is not None:
        if total <= len(response.body):
            return _from_zip(io.BytesIO(response.body), url), "range"
        try:
            raw = _RangeFile(http, url, total, response.body)
            return _from_zip(io.BufferedReader(raw, buffer_size=_BLOCK), url), "range"
        except _NoRanges:
            pass
        response = http.get(url)
    elif response.status != 200:
        response = http.get(url)
    if response.status != 200:
        raise IndexError_(f"{redact(url)} answered HTTP {response.status}", index=redact(url))
    return _from_zip(io.BytesIO(response.body), url), "download"


def local_wheel_metadata(path: Path) -> CoreMetadata:
    """The metadata of the wheel file at ``path`` (a find-links directory's, a path's)."""
    try:
        with path.open("rb") as handle:
            return CoreMetadata.parse(_from_zip(handle, str(path)))
    except OSError as exc:
        raise PodlockError(f"cannot read {path}: {exc.strerror or exc}") from None


def _is_metadata(text: str) -> bool:
    return bool(HeaderParser().parsestr(text).get("Metadata-Version"))


def _total_size(content_range: str) -> int | None:
    match = re.match(r"bytes\s+\d+-\d+/(\d+)", content_range.strip())
    return int(match.group(1)) if match else None


def _from_zip(fileobj: io.IOBase | io.BufferedReader | BinaryIO, url: str) -> str:
    try:
        with zipfile.ZipFile(fileobj) as archive:
            names = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
            if len(names) != 1:
                raise PodlockError(f"{redact(url)}: a wheel needs exactly one .dist-info/METADATA")
            return archive.read(names[0]).decode("utf-8", errors="replace")
    except zipfile.BadZipFile as exc:
        raise PodlockError(f"{redact(url)} is not a valid wheel ({exc})") from None


def sdist_metadata(data: bytes, filename: str) -> CoreMetadata:
    """Dependencies from an sdist without building it: PKG-INFO when its metadata is
    static (Metadata-Version 2.2+, Requires-Dist not dynamic), else ``*.egg-info/requires.txt``.
    """
    members = _sdist_members(data, filename)
    pkg_info = _shallowest(members, "PKG-INFO")
    requires_txt = _shallowest(members, "requires.txt")
    if pkg_info is not None:
        text = members[pkg_info].decode("utf-8", errors="replace")
        msg = HeaderParser().parsestr(text)
        version = tuple(int(p) for p in (msg.get("Metadata-Version") or "1.0").split(".")[:2])
        dynamic = {d.lower() for d in msg.get_all("Dynamic") or ()}
        meta = CoreMetadata.parse(text)
        if version >= (2, 2) and "requires-dist" not in dynamic:
            return meta
        if requires_txt is not None:
            reqs = _requires_txt(members[requires_txt].decode("utf-8", errors="replace"))
            return CoreMetadata(
                requires_dist=reqs,
                requires_python=meta.requires_python,
                provides_extra=meta.provides_extra,
            )
        if meta.requires_dist:
            return meta
    raise PodlockError(
        f"{filename}: its dependencies are only known after a build",
        hint='the python resolver does not build sdists; use resolver = "uv" for this project',
    )


def _sdist_members(data: bytes, filename: str) -> dict[str, bytes]:
    wanted = re.compile(r"(^|/)(PKG-INFO|requires\.txt)$")
    out: dict[str, bytes] = {}
    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                if wanted.search(name):
                    out[name] = archive.read(name)
        return out
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive.getmembers():
            if member.isfile() and wanted.search(member.name):
                handle = archive.extractfile(member)
                if handle is not None:
                    out[member.name] = handle.read()
    return out


def _shallowest(members: dict[str, bytes], base: str) -> str | None:
    found = [n for n in members if n.rsplit("/", 1)[-1] == base]
    return min(found, key=lambda n: (n.count("/"), n)) if found else None


def _requires_txt(text: str) -> tuple[str, ...]:
    """setuptools' ``requires.txt``: sections ``[extra:marker]`` become markers."""
    out: list[str] = []
    section: Sequence[str] = ("", "")
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            extra, _, marker = line[1:-1].partition(":")
            section = (extra.strip(), marker.strip())
            continue
        extra, marker = section
        parts = [f"({marker})"] if marker else []
        if extra:
            parts.append(f'extra == "{extra}"')
        out.append(f"{line}; {' and '.join(parts)}" if parts else line)
    return tuple(out)
