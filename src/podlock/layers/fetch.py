"""Wheels into the content-addressed cache: concurrent, resumable, verified, with progress.

The cache is the builder's (``WheelCache``: ``<sha[:2]>/<sha>/<filename>``), so the Docker and
OCI builders share it. A download goes to ``<filename>.part`` next to its final place and
resumes from there with an HTTP ``Range`` request (``podlock.http``: also after a cut body
or a dropped connection within one run); only bytes whose sha256 and size match the lock
are renamed into place. A mismatch deletes the partial file: it is never cached, and the
error names the file. One process at a time works on a given wheel (``flock`` beside it).
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from podlock import http
from podlock.disk import full_disk, is_full
from podlock.errors import HashMismatch
from podlock.layers.wheels import WheelCache
from podlock.paths import mark_used
from podlock.plan.layerplan import Wheel
from podlock.reporter import NullReporter, Reporter
from podlock.urls import redact

WORKERS = 8
_CHUNK = 1 << 20


class Progress:
    """Bytes done out of bytes wanted, as one reporter task; done with the last file. Never
    past the total: each file's bytes count once (see ``_Part``)."""

    def __init__(self, total: int, count: int, reporter: Reporter, *, noun: str = "wheel") -> None:
        self.total, self.count = total, count
        self.done = self.files = 0
        self.noun = noun
        self._task = reporter.task(
            f"downloading {count} {noun}{'s' if count != 1 else ''}", total=total, unit="bytes"
        )
        self._lock = threading.Lock()

    def add(self, n: int, *, finished: str | None = None) -> None:
        with self._lock:
            n = max(0, min(n, self.total - self.done))
            self.done += n
            if finished:
                self.files += 1
            last = finished is not None and self.files == self.count
        self._task.advance(n)
        if last:
            what = f"{self.count} {self.noun}{'s' if self.count != 1 else ''}"
            self._task.done(f"downloaded {what} ({self.done / 1e6:.1f} MB)")


def fetch_all(
    cache: WheelCache, wheels: Iterable[Wheel], reporter: Reporter | None = None
) -> dict[str, Path]:
    """Every wheel present and verified; sha256 -> path. The first failure is raised."""
    with Fetcher(cache, reporter) as fetcher:
        return fetcher.paths(wheels)


class Fetcher:
    """Downloads started ahead of need: ``start`` queues wheels (``WORKERS`` download at a
    time, in the order given), ``paths`` waits for just the ones it names. A builder starts
    every wheel it will install, then installs each layer as soon as its own are here."""

    def __init__(self, cache: WheelCache, reporter: Reporter | None = None) -> None:
        self.cache = cache
        self.reporter = reporter or NullReporter()
        self._http = http.Client(auth=cache.auth)
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="podlock-fetch")
        self._jobs: dict[str, Future[Path]] = {}

    def start(self, wheels: Iterable[Wheel]) -> None:
        todo = {w.sha256: w for w in wheels if w.sha256 not in self._jobs}
        missing = [w for w in todo.values() if not self.cache.path(w).is_file()]
        progress = None
        if missing:
            progress = Progress(sum(w.size for w in missing), len(missing), self.reporter)
        for sha, wheel in todo.items():
            self._jobs[sha] = self._pool.submit(fetch, self.cache, wheel, self._http, progress)

    def paths(self, wheels: Iterable[Wheel]) -> dict[str, Path]:
        """sha256 -> path of each of ``wheels``, present and verified (started if need be)."""
        unique = {w.sha256: w for w in wheels}
        self.start(unique.values())
        return {sha: self._jobs[sha].result() for sha in unique}

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fetch(
    cache: WheelCache, wheel: Wheel, client: http.Client, progress: Progress | None = None
) -> Path:
    """One wheel into the cache (resuming a partial download); returns its path."""
    dest = cache.path(wheel)
    if dest.is_file():
        mark_used(dest)
        return dest
    with full_disk(cache.root):
        dest.parent.mkdir(parents=True, exist_ok=True)
        with _locked(dest.with_name(dest.name + ".lock")):
            if dest.is_file():  # another process finished it while we waited
                if progress:
                    progress.add(wheel.size)
            else:
                _complete(wheel, dest, client, progress)
    if progress:
        progress.add(0, finished=wheel.filename)
    return dest


def _complete(wheel: Wheel, dest: Path, client: http.Client, progress: Progress | None) -> None:
    """Download ``wheel`` next to ``dest`` and move it there once verified."""
    part = dest.with_name(dest.name + ".part")
    try:
        sha, size = _download(wheel, part, client, progress)
    except OSError as exc:
        if is_full(exc):  # resuming it would need the space it holds
            part.unlink(missing_ok=True)
        raise
    _verify(wheel, part, sha, size)
    part.replace(dest)


class _Part:
    """``<file>.part`` as an ``http.Sink``: appends, hashes as it goes, restarts empty.
    Progress sees each of the file's ``expected`` bytes once: a restart (a server that
    ignored ``Range``) counts nothing until the new bytes pass what was counted."""

    def __init__(
        self, fh: BinaryIO, sha: hashlib._Hash, size: int, progress: Progress | None, expected: int
    ) -> None:
        self.fh, self.sha, self.size, self.progress = fh, sha, size, progress
        self.expected = expected
        self.counted = min(size, expected)  # counted by ``_download`` already

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.sha.update(data)
        self.size += len(data)
        upto = min(self.size, self.expected)
        if self.progress and upto > self.counted:
            self.progress.add(upto - self.counted)
            self.counted = upto
        return len(data)

    def restart(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()
        self.sha = hashlib.sha256()
        self.size = 0


def _download(
    wheel: Wheel, part: Path, client: http.Client, progress: Progress | None
) -> tuple[hashlib._Hash, int]:
    """Complete ``part``; its sha256 and size (what an earlier attempt left is read once to
    hash it, the rest is hashed as it arrives). A part already as long as the lock says is
    kept only if its hash is the lock's; a longer one is dropped."""
    have = part.stat().st_size if part.is_file() else 0
    sha = _sha256(part, have)
    if have and have >= wheel.size:
        if have == wheel.size and sha.hexdigest() == wheel.sha256:
            if progress:
                progress.add(have)
            return sha, have
        have, sha = 0, hashlib.sha256()
    if progress and have:  # what an earlier run left is done
        progress.add(have)
    parts = urlsplit(wheel.url)
    with open(part, "r+b" if have else "wb") as out:
        out.seek(have)
        out.truncate()
        sink = _Part(out, sha, have, progress, wheel.size)
        if parts.scheme == "file":
            with open(unquote(parts.path), "rb") as src:
                src.seek(have)
                _copy(iter(lambda: src.read(_CHUNK), b""), out, sha, progress)
            return sha, out.tell()
        try:
            what = f"download {wheel.filename} for {wheel.package} from"
            client.download(wheel.url, sink, what=what)
        except http.Refused as exc:
            if exc.status not in (401, 403):
                exc.hint = (
                    "the lock names this URL; run `podlock lock --upgrade` if the index "
                    "dropped the file"
                )
            raise
        return sink.sha, sink.size


def _sha256(part: Path, size: int) -> hashlib._Hash:
    sha = hashlib.sha256()
    if size:
        with open(part, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                sha.update(chunk)
    return sha


def _copy(
    chunks: Iterable[bytes], out: BinaryIO, sha: hashlib._Hash, progress: Progress | None
) -> None:
    for chunk in chunks:
        out.write(chunk)
        sha.update(chunk)
        if progress:
            progress.add(len(chunk))


def _verify(wheel: Wheel, part: Path, sha: hashlib._Hash, size: int) -> None:
    if sha.hexdigest() != wheel.sha256 or size != wheel.size:
        part.unlink(missing_ok=True)
        raise HashMismatch(
            package=wheel.package,
            url=redact(wheel.url),
            expected=[f"sha256:{wheel.sha256} ({wheel.size} bytes)"],
            got=[f"sha256:{sha.hexdigest()} ({size} bytes)"],
        )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
