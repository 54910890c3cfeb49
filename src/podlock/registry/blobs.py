"""The content-addressed blob store every image blob passes through.

``<cache>/oci/blobs/sha256/<hex>``: a file there has that digest, because it is only ever
put there by an atomic rename after its bytes were hashed. A write that fails (a full disk,
an interrupt) leaves nothing but its own temporary file, which it removes.
"""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from podlock.atomic import file_in_place, link_atomic
from podlock.disk import full_disk, full_error, is_full
from podlock.errors import PodlockError
from podlock.paths import cache_dir
from podlock.registry.model import digest_of, hex_of

_DISK_ERRORS = (errno.EROFS, errno.EIO, errno.EACCES)  # a full disk: DiskFull


class BlobWriter:
    """A file being written into the store: counts and hashes every byte it is given."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._fh.write(data)
        self._sha.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._fh.flush()

    def restart(self) -> None:
        """Drop what was written (a download that must start over)."""
        self._fh.seek(0)
        self._fh.truncate()
        self._sha = hashlib.sha256()
        self.size = 0

    @property
    def digest(self) -> str:
        return "sha256:" + self._sha.hexdigest()


class BlobStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_dir() / "oci" / "blobs"

    def path(self, digest: str) -> Path:
        return self.root / "sha256" / hex_of(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its digest. Cost: one write unless it is already there."""
        digest = digest_of(data)
        if not self.has(digest):
            with self.writer(expected=digest) as out:
                out.write(data)
        return digest

    @contextmanager
    def writer(self, *, expected: str | None = None) -> Iterator[BlobWriter]:
        """Write a blob; it enters the store under its digest only if the block finishes
        (and, with ``expected``, only if that is its digest)."""
        folder = self.root / "sha256"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with file_in_place(lambda: self.path(writer.digest), folder=folder) as fh:
                writer = BlobWriter(fh)
                yield writer
                if expected is not None and writer.digest != expected:
                    raise PodlockError(
                        f"blob {expected} arrived with digest {writer.digest}",
                        hint="the source changed or is corrupt; nothing was stored",
                    )
        except OSError as exc:
            if is_full(exc):
                raise full_error(exc, folder) from exc
            if exc.errno not in _DISK_ERRORS:
                raise
            raise PodlockError(
                f"could not write a blob under {folder}: {exc.strerror or exc}",
                hint="free some disk space (or set PODLOCK_CACHE_DIR elsewhere) and run again; "
                "the cache holds only complete blobs",
            ) from exc

    def copy_into(self, digest: str, dest: Path) -> None:
        """Hard-link (or copy) a blob to ``dest``, atomically."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_file() and dest.stat().st_size == self.size(digest):
            return
        with full_disk(dest.parent):
            link_atomic(self.path(digest), dest)
