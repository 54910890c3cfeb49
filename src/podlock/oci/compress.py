"""The pinned layer compressors: gzip (ISA-L, bundled by ``isal``) and zstd (``zstandard``).

Compressed bytes are part of a layer's digest, and zlib promises no stable output across
versions or forks (zlib-ng, which some distributions ship as their zlib, differs). Both
compressors here are bundled with their Python packages, so the output depends only on
the package version, which ``identity`` names (it is part of every layer cache key).
The gzip header is fixed: mtime 0, no file name, OS byte 255.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import zstandard
from isal import __version__ as isal_version
from isal import isal_zlib

from podlock.errors import PodlockError
from podlock.oci.model import LAYER_GZIP, LAYER_ZSTD

COMPRESSIONS = ("gzip", "zstd")
GZIP_LEVEL = 1  # ISA-L's levels are 0-3; 1 is ~9x faster than zlib -1 at a similar ratio
ZSTD_LEVEL = 3


class Compressor(Protocol):
    media_type: str

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class _Gzip:
    media_type = LAYER_GZIP

    def __init__(self, sink: Callable[[bytes], object]) -> None:
        self._sink = sink
        self._obj = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)  # 31: gzip wrapper

    def write(self, data: bytes) -> None:
        out = self._obj.compress(data)
        if out:
            self._sink(out)

    def close(self) -> None:
        self._sink(self._obj.flush())


class _Zstd:
    media_type = LAYER_ZSTD

    def __init__(self, sink: Callable[[bytes], object]) -> None:
        self._sink = sink
        # threads=0: single-threaded framing, whose output does not depend on the CPU count.
        self._obj = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=0).compressobj()

    def write(self, data: bytes) -> None:
        out = self._obj.compress(data)
        if out:
            self._sink(out)

    def close(self) -> None:
        self._sink(self._obj.flush())


def compressor(name: str, sink: Callable[[bytes], object]) -> Compressor:
    if name == "gzip":
        return _Gzip(sink)
    if name == "zstd":
        return _Zstd(sink)
    raise PodlockError(
        f"unknown compression {name!r}", hint=f"use one of {', '.join(COMPRESSIONS)}"
    )


def identity(name: str) -> str:
    """Which compressor, version and level produce ``name`` layers (for cache keys)."""
    if name == "gzip":
        return f"gzip/isal-{isal_version}/{GZIP_LEVEL}"
    if name == "zstd":
        return f"zstd/{'.'.join(map(str, zstandard.ZSTD_VERSION))}/{ZSTD_LEVEL}"
    raise PodlockError(
        f"unknown compression {name!r}", hint=f"use one of {', '.join(COMPRESSIONS)}"
    )
