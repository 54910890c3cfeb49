"""The engine's ``podlock-layers/<layer>:<key>`` images, one per chain step, and the record
of when a build last stood on each: the engine keeps no time of use, so podlock keeps an
empty marker file per tag whose mtime is that time (``podlock prune`` reads it)."""

from __future__ import annotations

from pathlib import Path

from podlock.paths import cache_dir

LAYER_REPO = "podlock-layers/"


def markers_root() -> Path:
    return cache_dir() / "engine-layers"


def marker(tag: str) -> Path:
    return markers_root() / tag.removeprefix(LAYER_REPO)


def mark_layer_image(tag: str) -> None:
    """Record that a build used ``tag`` now."""
    path = marker(tag)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()  # the mtime is the time of use
    except OSError:
        pass  # a read-only cache costs only this record
