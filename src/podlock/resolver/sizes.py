"""File sizes the index did not report (PEP 503 HTML has none): HEAD once, cache by hash.

A file's size never changes for a given sha256, so the cache needs no revalidation.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from podlock.errors import IndexError_
from podlock.inputs.indexes import Index, auth_headers
from podlock.lock.pylock import write_atomic
from podlock.paths import cache_dir
from podlock.resolver.model import RawArtifact
from podlock.urls import redact

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
        return self.sizes.get(sha256)

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
        known = art.size if art.size is not None else cache.get(art.sha256)
        if known is not None:
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
    auth = auth_headers(indexes)
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for sha, size in pool.map(lambda a: (a.sha256, _size(a, auth)), todo.values()):
            assert sha is not None
            out[sha] = size
            cache.put(sha, size)
    cache.save()
    return out


def _size(art: RawArtifact, auth: Mapping[str, str]) -> int:
    if art.path is not None or (art.url or "").startswith("file://"):
        local = art.path or urlsplit(art.url or "").path
        return os.stat(local).st_size
    url = art.url or ""
    request = urllib.request.Request(url, method="HEAD")
    header = auth.get(urlsplit(url).netloc)
    if header:
        request.add_header("Authorization", header)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            length = response.headers.get("Content-Length")
            if length is not None:
                return int(length)
        # No length on HEAD: count the bytes once (rare; the result is cached by hash).
        request = urllib.request.Request(url)
        if header:
            request.add_header("Authorization", header)
        total = 0
        with urllib.request.urlopen(request, timeout=300) as response:
            while chunk := response.read(1 << 20):
                total += len(chunk)
        return total
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise IndexError_(
            f"could not get the size of {redact(url)}: {exc}",
            index=redact(url),
            hint="check the network and the index; the lock needs every file's size",
        ) from None
