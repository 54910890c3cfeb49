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
from podlock.registry.model import LAYER_GZIP, LAYER_ZSTD

COMPRESSIONS = ("gzip", "zstd")
LAYER_TYPES = {"gzip": LAYER_GZIP, "zstd": LAYER_ZSTD}  # the media type each one writes
GZIP_LEVEL = 1  # ISA-L's levels are 0-3; 1 is ~9x faster than zlib -1 at a similar ratio
ZSTD_LEVEL = 3


class _Stream(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


class Compressor:
    """A compressing stream: bytes in through ``write``, compressed bytes out to ``sink``."""

    def __init__(self, media_type: str, stream: _Stream, sink: Callable[[bytes], object]) -> None:
        self.media_type = media_type
        self._stream = stream
        self._sink = sink

    def write(self, data: bytes) -> None:
        out = self._stream.compress(data)
        if out:
            self._sink(out)

    def close(self) -> None:
        self._sink(self._stream.flush())


def known(name: str) -> str:
    """``name`` when it is one of COMPRESSIONS; anything else is a clear error."""
    if name not in COMPRESSIONS:
        raise PodlockError(
            f"unknown compression {name!r}", hint=f"use one of {', '.join(COMPRESSIONS)}"
        )
    return name


def compressor(name: str, sink: Callable[[bytes], object]) -> Compressor:
    if known(name) == "gzip":
        stream = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)  # 31: gzip wrapper
        return Compressor(LAYER_GZIP, stream, sink)
    # threads=0: single-threaded framing, whose output does not depend on the CPU count.
    zstd = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=0).compressobj()
    return Compressor(LAYER_ZSTD, zstd, sink)


def identity(name: str) -> str:
    """Which compressor, version and level produce ``name`` layers (for cache keys)."""
    if known(name) == "gzip":
        return f"gzip/isal-{isal_version}/{GZIP_LEVEL}"
    return f"zstd/{'.'.join(map(str, zstandard.ZSTD_VERSION))}/{ZSTD_LEVEL}"
