"""The content-addressed wheel cache that both builders fill and read.

``podlock.layers.fetch`` fills it (concurrent, resumable, sha256 and size verified before a
file is renamed into place). Credentials for private indexes are used there, on the host,
and nowhere else: the build context (and so every layer) only ever sees the verified files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from podlock.inputs.indexes import auth_headers, index_plan
from podlock.paths import cache_dir
from podlock.plan.layerplan import Wheel
from podlock.plan.load import BuildPlan


class WheelCache:
    """``<cache>/wheels/<sha256[:2]>/<sha256>/<filename>``; a file there has that hash."""

    def __init__(self, root: Path | None = None, *, auth: Mapping[str, str] | None = None) -> None:
        self.root = root or cache_dir() / "wheels"
        self.auth = dict(auth or {})  # netloc -> Authorization header value

    def path(self, wheel: Wheel) -> Path:
        return self.root / wheel.sha256[:2] / wheel.sha256 / wheel.filename


def wheel_cache(project: BuildPlan) -> WheelCache:
    """The cache, with the variant's index credentials (host side only)."""
    return WheelCache(auth=auth_headers(index_plan(project.inputs, project.variant).indexes))
