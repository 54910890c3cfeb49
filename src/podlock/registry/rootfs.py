"""An image's root filesystem as its layers make it, read without an engine.

Each layer is a changeset applied over the layers below it (OCI image-spec, layer.md):
``DIR/.wh.NAME`` deletes NAME, and everything under it, from the lower layers;
``DIR/.wh..wh..opq`` hides every child the lower layers gave DIR and keeps this layer's. A
whiteout applies to the lower layers only, wherever it sits in its layer's tar, and is never
a file of the image itself. An entry over an existing path replaces it (a non-directory over
a directory takes away what was under it; a directory over a directory keeps its children),
so a later layer may recreate a deleted path, or part of it.

A caller names the paths it keeps (a base has tens of thousands; podlock needs a few dozen)
and those whose bytes it reads; nothing else is held.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import zstandard

from podlock.registry.base import BaseImage, BaseImageError
from podlock.registry.blobs import BlobStore
from podlock.registry.model import LAYER_ZSTD, Descriptor

Kind = Literal["file", "dir", "symlink", "hardlink", "other"]
OPAQUE = ".wh..wh..opq"
WHITEOUT = ".wh."
# what a layer that is missing, cut short or not a (compressed) tar raises while it is read
_UNREADABLE = (OSError, EOFError, tarfile.TarError, zlib.error, zstandard.ZstdError)


class LayerUnreadable(BaseImageError):
    """A base image layer that is missing from the blob store or is not a readable tar."""

    def __init__(self, *, base: str, layer: str, blob: Path, detail: str) -> None:
        super().__init__(
            f"cannot read layer {layer} of the base image {base}: {detail}",
            hint=f"podlock's copy of the layer ({blob}) is damaged or gone: delete it, and the "
            "next run fetches it again from the base's source",
        )
        self.base = base
        self.layer = layer


@dataclass(frozen=True, kw_only=True)
class ImageFile:
    """One path of the merged root filesystem (no leading ``/``)."""

    path: str
    kind: Kind
    link: str = ""  # a symlink's target as written; a hard link's target path
    data: bytes | None = None  # a file's bytes (a hard link's: its target's), where read


Select = Callable[[str], bool]


def _nothing(path: str) -> bool:
    return False


def read_rootfs(
    image: BaseImage, store: BlobStore, *, keep: Select, read: Select = _nothing
) -> dict[str, ImageFile]:
    """The kept paths of ``image``'s merged layers (bytes for those ``read`` names, which
    ``keep`` must keep too). Cost: one decompressing read of every layer."""
    tree: dict[str, ImageFile] = {}
    for layer in image.layers:
        try:
            with (
                _open_layer(store, layer) as stream,
                tarfile.open(fileobj=stream, mode="r|*") as tar,
            ):
                apply_layer(tree, tar, keep=keep, read=read)
        except _UNREADABLE as exc:
            base = image.name or image.digest
            detail = str(exc) or type(exc).__name__
            blob = store.path(layer.digest)
            raise LayerUnreadable(base=base, layer=layer.digest, blob=blob, detail=detail) from exc
    return tree


def apply_layer(
    tree: dict[str, ImageFile], tar: tarfile.TarFile, *, keep: Select, read: Select = _nothing
) -> None:
    """Apply one layer (``tar``, read as a stream) to ``tree``, the layers below it, in place."""
    deleted: set[str] = set()  # gone with everything under them
    emptied: set[str] = set()  # opaque directories and paths now a non-directory
    added: dict[str, ImageFile] = {}
    for member in tar:
        path = member.name.removeprefix("./").strip("/")
        head, _, name = path.rpartition("/")
        if name == OPAQUE:
            emptied.add(head)
        elif name.startswith(WHITEOUT):
            deleted.add(f"{head}/{name[len(WHITEOUT) :]}" if head else name[len(WHITEOUT) :])
        elif path:
            if not member.isdir():
                emptied.add(path)
            if keep(path):
                added[path] = _entry(tar, member, path, read, added, tree)
    for path in [p for p in tree if _hidden(p, deleted, emptied)]:
        del tree[path]
    tree.update(added)


def _hidden(path: str, deleted: set[str], emptied: set[str]) -> bool:
    if path in deleted:
        return True
    while path:
        path = path.rpartition("/")[0]
        if path in deleted or path in emptied:
            return True
    return False


def _entry(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    path: str,
    read: Select,
    added: dict[str, ImageFile],
    tree: dict[str, ImageFile],
) -> ImageFile:
    if member.isfile():
        data = None
        if read(path):
            fh = tar.extractfile(member)
            data = fh.read() if fh else b""
        return ImageFile(path=path, kind="file", data=data)
    if member.isdir():
        return ImageFile(path=path, kind="dir")
    if member.issym():
        return ImageFile(path=path, kind="symlink", link=member.linkname)
    if member.islnk():
        # a hard link names a file earlier in its own layer (in a lower one, at worst)
        target = member.linkname.removeprefix("./").strip("/")
        source = added.get(target) or tree.get(target)
        data = source.data if source is not None and read(path) else None
        return ImageFile(path=path, kind="hardlink", link=target, data=data)
    return ImageFile(path=path, kind="other")


@contextmanager
def _open_layer(store: BlobStore, layer: Descriptor) -> Iterator[IO[bytes]]:
    with open(store.path(layer.digest), "rb") as fh:
        if layer.media_type == LAYER_ZSTD:
            with zstandard.ZstdDecompressor().stream_reader(fh) as reader:
                yield reader
        else:
            yield fh  # tarfile's "r|*" tells gzip from plain tar itself
