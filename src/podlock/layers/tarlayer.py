"""Deterministic tar layers: the same entries give the same bytes on any machine.

Rules (see research/images.md §3): entries sorted by path with every parent directory
present; one fixed integer mtime; uid/gid 0 and empty owner names; modes 0755 for
directories and executables, 0644 for other files, 0777 for symlinks; hard links written
as files; GNU headers only (long names as ``././@LongLink``, never PAX, so no xattrs or
sub-second times). Layers are streamed: tar → sha256 (diff_id) → compressor → blob store,
so memory stays flat however large a layer is.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from podlock.errors import PodlockError
from podlock.layers.compress import Compressor, compressor
from podlock.registry.blobs import BlobStore

EntryKind = Literal["dir", "file", "symlink"]
_BLOCK = 512
_RECORD = 20 * _BLOCK
_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One path in a layer, relative to the image root (``opt/venv/bin/python``)."""

    path: str
    kind: EntryKind
    mode: int
    source: Path | bytes | None = None  # file content: a host file or the bytes
    target: str = ""  # symlink target


@dataclass(frozen=True, kw_only=True)
class LayerBlob:
    diff_id: str  # sha256 of the uncompressed tar: the layer's identity
    digest: str  # sha256 of the blob as stored and pushed
    size: int
    media_type: str


class LayerError(PodlockError):
    """A layer tree that would write outside the image root, or a file podlock cannot place."""


def directory(path: str) -> Entry:
    return Entry(path=path, kind="dir", mode=0o755)


def file(path: str, source: Path | bytes, *, executable: bool = False) -> Entry:
    return Entry(path=path, kind="file", mode=0o755 if executable else 0o644, source=source)


def symlink(path: str, target: str) -> Entry:
    return Entry(path=path, kind="symlink", mode=0o777, target=target)


def tree(root: Path, *, prefix: str = "", layer: str) -> list[Entry]:
    """Every path under ``root`` as entries under ``prefix``; a symlink that leaves the tree,
    a device or a socket is refused (naming ``layer``)."""
    out: list[Entry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        for name in [*dirnames, *filenames]:
            host = Path(dirpath, name)
            rel = f"{rel_dir}/{name}" if rel_dir else name
            path = f"{prefix}/{rel}" if prefix else rel
            st = host.lstat()
            if stat.S_ISDIR(st.st_mode):
                out.append(directory(path))
            elif stat.S_ISREG(st.st_mode):
                out.append(file(path, host, executable=bool(st.st_mode & 0o111)))
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(host)
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
                if posixpath.isabs(target) or resolved == ".." or resolved.startswith("../"):
                    raise LayerError(
                        f"layer {layer}: symlink /{path} -> {target} points outside the layer",
                        hint="a wheel or project file may not link outside what it installs",
                    )
                out.append(symlink(path, target))
            else:
                raise LayerError(f"layer {layer}: /{path} is not a file, directory or symlink")
        dirnames.sort()
    return out


def normalised(entries: Iterable[Entry]) -> list[Entry]:
    """Sorted by path, duplicates refused, every missing parent directory added."""
    by_path: dict[str, Entry] = {}
    for entry in entries:
        path = posixpath.normpath(entry.path.strip("/"))
        if path in ("", ".") or path == ".." or path.startswith("../"):
            raise LayerError(f"refusing layer path {entry.path!r}: outside the image root")
        entry = replace(entry, path=path)
        if path in by_path and by_path[path] != entry and entry.kind != "dir":
            raise LayerError(f"two different entries for /{path} in one layer")
        by_path.setdefault(path, entry)
    for path in list(by_path):
        parent = posixpath.dirname(path)
        while parent and parent not in by_path:
            by_path[parent] = directory(parent)
            parent = posixpath.dirname(parent)
    return [by_path[p] for p in sorted(by_path)]


def write_tar(entries: Iterable[Entry], emit: Callable[[bytes], object], *, mtime: int) -> None:
    """Write ``entries`` (already normalised) as one tar stream through ``emit``."""
    for chunk in tar_chunks(entries, mtime=mtime):
        emit(chunk)


def tar_chunks(entries: Iterable[Entry], *, mtime: int) -> Iterator[bytes]:
    """The tar stream of ``entries`` (already normalised), in pieces."""
    total = 0
    for entry in entries:
        for chunk in entry_chunks(entry, mtime=mtime):
            total += len(chunk)
            yield chunk
    yield tar_end(total)


def tar_size(entries: Iterable[Entry], *, mtime: int) -> int:
    """The byte length of ``tar_chunks(entries)``, from headers and file sizes alone."""
    total = 0
    for entry in entries:
        total += len(_header(entry, mtime))
        if entry.kind == "file":
            size = _size(entry)
            total += size + -size % _BLOCK
    return total + len(tar_end(total))


def entry_chunks(entry: Entry, *, mtime: int) -> Iterator[bytes]:
    """One member: its header, then its content padded to a block."""
    yield _header(entry, mtime)
    if entry.kind == "file":
        yield from _content_chunks(entry, _size(entry))


def nested_chunks(path: str, entries: Sequence[Entry], *, mtime: int) -> Iterator[bytes]:
    """A member ``path`` whose content is the tar of ``entries`` (normalised), streamed:
    a tar inside a tar with no copy on disk. The inner tar ends on a record, so on a block."""
    info = tarfile.TarInfo(path)
    info.mtime = int(mtime)
    info.mode = 0o644
    info.uname = info.gname = ""
    info.size = tar_size(entries, mtime=mtime)
    yield info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    yield from tar_chunks(entries, mtime=mtime)


def tar_end(total: int) -> bytes:
    """The end-of-archive blocks after ``total`` bytes of members, padded to a record."""
    end = 2 * _BLOCK
    end += -(total + end) % _RECORD
    return b"\0" * end


def _header(entry: Entry, mtime: int) -> bytes:
    info = tarfile.TarInfo(entry.path)
    info.mtime = int(mtime)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = entry.mode
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
    else:
        info.type = tarfile.REGTYPE
        info.size = _size(entry)
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


def write_layer(
    entries: Iterable[Entry], store: BlobStore, *, compression: str, mtime: int
) -> LayerBlob:
    """Write a compressed layer into ``store``. Cost: one pass over the content, streamed."""
    tar_sha = hashlib.sha256()
    with store.writer() as blob:
        comp: Compressor = compressor(compression, blob.write)
        buffer = bytearray()

        def emit(data: bytes) -> None:
            tar_sha.update(data)
            buffer.extend(data)
            if len(buffer) >= _CHUNK:
                comp.write(bytes(buffer))
                buffer.clear()

        write_tar(normalised(entries), emit, mtime=mtime)
        comp.write(bytes(buffer))
        comp.close()
    return LayerBlob(
        diff_id="sha256:" + tar_sha.hexdigest(),
        digest=blob.digest,
        size=blob.size,
        media_type=comp.media_type,
    )


def _size(entry: Entry) -> int:
    if isinstance(entry.source, bytes):
        return len(entry.source)
    if entry.source is None:
        return 0
    return entry.source.stat().st_size


def _content_chunks(entry: Entry, size: int) -> Iterator[bytes]:
    if isinstance(entry.source, bytes):
        yield entry.source
    elif entry.source is not None:
        left = size
        with open(entry.source, "rb") as fh:
            while left > 0:
                chunk = fh.read(min(_CHUNK, left))
                if not chunk:
                    break
                yield chunk
                left -= len(chunk)
        if left:
            raise LayerError(f"/{entry.path} shrank while it was being written; run again")
    pad = -size % _BLOCK
    if pad:
        yield b"\0" * pad
