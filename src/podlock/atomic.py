"""Files and directories that appear whole or not at all: written beside their final place,
then renamed into it. A reader sees the old version or the new one, never a part; a write
that fails (a full disk, an interrupt) leaves nothing but removes its own temporary.

A leaf: the lock writer, the caches and both builders use it. Turning ENOSPC into
``DiskFull`` stays with the caller (``disk.full_disk`` around the block): by then the
temporary is gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o644  # mkstemp makes 0600; what a plain write would give under umask 022


def write_atomic(path: Path, data: bytes | str) -> bool:
    """Replace ``path`` with ``data`` (str: UTF-8), fsynced; False (and no write) if it
    already holds exactly that. For files a person keeps (locks, exports)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if path.read_bytes() == raw:
            return False
    except FileNotFoundError:
        pass
    with file_in_place(path, fsync=True) as fh:
        fh.write(raw)
    return True


def write_entry(path: Path, data: bytes) -> None:
    """Replace the cache entry ``path`` with ``data``. Not fsynced: an entry a crash loses
    is computed again."""
    with file_in_place(path) as fh:
        fh.write(data)


@contextmanager
def file_in_place(
    dest: Path | Callable[[], Path], *, folder: Path | None = None, fsync: bool = False
) -> Iterator[BinaryIO]:
    """A file written in pieces: yields it open for writing, next to ``dest``; renamed to
    ``dest`` when the block finishes, removed if it raises. ``dest`` may be a function
    called once the block is done (a content-addressed file is named by its bytes); then
    ``folder``, on the same filesystem, holds the temporary."""
    where = dest.parent if isinstance(dest, Path) else folder
    if where is None:
        raise TypeError("file_in_place: a dest computed later needs a folder")
    prefix = f".{dest.name}." if isinstance(dest, Path) else ".tmp-"
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=where)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, dest if isinstance(dest, Path) else dest())
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; what a failure left otherwise


def link_atomic(src: Path, dest: Path) -> None:
    """Put ``src`` at ``dest`` too: a hard link where the filesystem allows, else a copy."""
    tmp = scratch_path(dest)
    tmp.unlink(missing_ok=True)  # a dead run's, by this name
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)  # a copy a full disk cut short


def scratch_path(dest: Path) -> Path:
    """A temporary name beside ``dest``, unique to this process and thread."""
    return dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")


@contextmanager
def directory_in_place(
    dest: Path, *, finished: Callable[[Path], bool], tmp: Path | None = None
) -> Iterator[Path]:
    """A directory built in place of ``dest``: yields an empty temporary one beside it
    (``tmp``, or ``scratch_path(dest)``), renamed to ``dest`` when the block finishes, removed
    if it raises. If ``dest`` cannot be replaced and ``finished(dest)`` (another process
    built it first), theirs is kept and ours dropped."""
    tmp = tmp or scratch_path(dest)
    shutil.rmtree(tmp, ignore_errors=True)  # a dead run's, by this name
    tmp.mkdir(parents=True)
    try:
        yield tmp
        place_directory(tmp, dest, finished=finished)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename


def place_directory(tmp: Path, dest: Path, *, finished: Callable[[Path], bool]) -> bool:
    """Rename the finished directory ``tmp`` to ``dest``; True if it moved. If the rename
    fails and ``finished(dest)`` (another process won the race), ``tmp`` is removed, theirs
    kept, and the answer is False; otherwise the rename's error is raised."""
    try:
        os.rename(tmp, dest)
    except OSError:
        if not finished(dest):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    return True
