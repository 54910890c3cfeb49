"""Which CPython interpreters a base image has, found by reading its layers (no engine).

Layers are read in order with whiteouts applied, looking only at the usual places
(``/usr/local/bin`` for python:*-slim, ``/usr/bin`` for Debian's, conda, ``/opt/python``).
The answer is cached per base config digest, so a base is read once.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import zstandard

from podlock.errors import PodlockError
from podlock.paths import cache_dir
from podlock.registry.base import BaseImage
from podlock.registry.blobs import BlobStore
from podlock.registry.model import LAYER_ZSTD, canonical, digest_of, hex_of

DIRS = ("usr/local/bin", "usr/bin", "opt/conda/bin", "opt/python/bin", "bin")
_NAME = re.compile(r"^python(3\.\d+)$")


class NoInterpreter(PodlockError):
    pass


def interpreters(base: BaseImage, store: BlobStore) -> dict[str, str]:
    """``{"3.11": "/usr/bin/python3.11", ...}``: the first directory of DIRS wins per version.
    Cost: one decompressing read of every base layer, once per base."""
    memo = cache_dir() / "oci" / "interpreters" / f"{hex_of(_config_digest(base))}.json"
    try:
        return dict(json.loads(memo.read_text()))
    except (FileNotFoundError, ValueError):
        pass
    present: set[str] = set()  # interpreter paths in the merged layers
    for layer in base.layers:
        with (
            _open_layer(store, layer.digest, layer.media_type) as stream,
            tarfile.open(fileobj=stream, mode="r|*") as tar,
        ):
            for member in tar:
                _apply(present, member)
    found: dict[str, str] = {}
    for folder in DIRS:
        for path in sorted(present):
            head, _, name = path.rpartition("/")
            m = _NAME.match(name)
            if head == folder and m and m.group(1) not in found:
                found[m.group(1)] = f"/{path}"
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(".tmp")
    tmp.write_text(json.dumps(found, sort_keys=True))
    os.replace(tmp, memo)
    return found


def interpreter_for(base: BaseImage, python: str, store: BlobStore) -> str:
    """The base's CPython ``python`` (X.Y); a base without one is a clear error."""
    found = interpreters(base, store)
    if python in found:
        return found[python]
    have = ", ".join(f"{v} ({p})" for v, p in sorted(found.items())) or "no CPython at all"
    raise NoInterpreter(
        f"base image {base.name or base.digest} ({base.platform}) has no python{python} "
        f"in {', '.join('/' + d for d in DIRS)}; it has {have}",
        hint=f"use a base with CPython {python} (e.g. python:{python}-slim), or lock for a "
        'Python the base has (python = "X.Y" in the podlock config)',
    )


def _config_digest(base: BaseImage) -> str:
    return digest_of(canonical(dict(base.config)))


def _apply(present: set[str], member: tarfile.TarInfo) -> None:
    path = member.name.removeprefix("./").strip("/")
    head, _, name = path.rpartition("/")
    if name == ".wh..wh..opq":
        present.difference_update([p for p in present if p.startswith(head + "/")])
        return
    if name.startswith(".wh."):
        present.discard(f"{head}/{name[4:]}" if head else name[4:])
        return
    if head in DIRS and _NAME.match(name):
        if member.isfile() or member.issym() or member.islnk():
            present.add(path)
        else:
            present.discard(path)


@contextmanager
def _open_layer(store: BlobStore, digest: str, media_type: str) -> Iterator[IO[bytes]]:
    with open(store.path(digest), "rb") as fh:
        if media_type == LAYER_ZSTD:
            with zstandard.ZstdDecompressor().stream_reader(fh) as reader:
                yield reader
        else:
            yield fh  # tarfile's "r|*" detects gzip itself
