"""File sizes the index did not report (PEP 503 HTML has none): HEAD once, cache by hash.

A file's size never changes for a given sha256, so the cache needs no revalidation; for
the same reason a size of 0 is never believed (no wheel or sdist is empty): the file is
counted instead, and an empty one is an error, never a cache entry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from podlock.atomic import write_atomic
from podlock.errors import IndexError_
from podlock.inputs.indexes import Index, auth_headers
from podlock.paths import cache_dir
from podlock.resolver.model import RawArtifact
from podlock.urls import redact

if TYPE_CHECKING:  # requests costs start-up time: imported when used
    from podlock import http

_WORKERS = 16


class SizeCache:
    """sha256 -> size, in one JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "sizes.json"
        try:
            self.sizes: dict[str, int] = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            self.sizes = {}
        self._dirty = False

    def get(self, sha256: str) -> int | None:
        size = self.sizes.get(sha256)
        return size if size else None  # a 0 an older podlock cached is asked for again

    def put(self, sha256: str, size: int) -> None:
        if self.sizes.get(sha256) != size:
            self.sizes[sha256] = size
            self._dirty = True

    def save(self) -> None:
        if self._dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(self.sizes, sort_keys=True, indent=0))
            self._dirty = False


def fill_sizes(
    artifacts: Iterable[RawArtifact],
    *,
    cache: SizeCache,
    indexes: Sequence[Index],
    offline: bool,
) -> dict[str, int]:
    """sha256 -> size for every artifact; asks the server only for what nobody knows."""
    out: dict[str, int] = {}
    todo: dict[str, RawArtifact] = {}
    for art in artifacts:
        if art.sha256 is None:
            continue
        known = art.size or cache.get(art.sha256)  # 0 is no size a package file has
        if known:
            out[art.sha256] = known
            cache.put(art.sha256, known)
        else:
            todo.setdefault(art.sha256, art)
    if todo and offline:
        first = next(iter(todo.values()))
        raise IndexError_(
            f"the size of {first.filename} is not in the cache (--offline)",
            index=redact(first.url or first.path or ""),
            hint="run `podlock lock` once online to fill the cache",
        )
    from podlock import http

    client = http.Client(auth=auth_headers(indexes))
    with client, ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for sha, size in pool.map(lambda a: (a.sha256, _size(a, client)), todo.values()):
            assert sha is not None
            out[sha] = size
            cache.put(sha, size)
    cache.save()
    return out


class _Counter:
    """An ``http.Sink`` that only counts."""

    size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)

    def restart(self) -> None:
        self.size = 0


def _size(art: RawArtifact, client: http.Client) -> int:
    from podlock import http

    if art.path is not None or (art.url or "").startswith("file://"):
        local = art.path or urlsplit(art.url or "").path
        return os.stat(local).st_size
    url = art.url or ""
    try:
        response = client.request("HEAD", url, what="get the size of")
        try:
            length = int(response.headers.get("Content-Length", ""))
        except ValueError:
            length = 0
        if length > 0:
            return length
        # No length on HEAD (or 0, which no package has): count the bytes once.
        counter = _Counter()
        client.download(url, counter, what="get the size of")
    except http.HttpError as exc:
        raise IndexError_(
            exc.message,
            index=redact(url),
            hint=exc.hint or "check the network and the index; the lock needs every file's size",
        ) from None
    if counter.size == 0:
        raise IndexError_(
            f"{redact(url)} is empty", index=redact(url), hint="the index serves a broken file"
        )
    return counter.size
