"""What a build will write, estimated from the lock's wheel sizes before it writes anything.

These are estimates, not measurements. A wheel is a zip (deflate): its installed tree is
larger by a factor that varies per package: PyPI's CUDA torch 2.9.1 is 4.1 GB of wheels
and 7.07 GB installed (1.7x, bench/heavy.py). 2.5x overshoots that and most wheels, which
is the safe side for a check that stops a build. A compressed layer of a tree
is about the size of its wheels. Only what is not cached counts: a wheel in the wheel
cache downloads nothing, a tree in the tree cache installs nothing, and a layer in the
layer cache (or an engine's image) is not written again; callers pass only those layers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from podlock.disk import check_free
from podlock.layers.install import Target
from podlock.layers.installed import has_tree, trees_root
from podlock.layers.wheels import WheelCache
from podlock.plan.layerplan import Wheel

INSTALLED_FACTOR = 2.5  # installed tree / wheel (estimate; see the module docstring)
LAYER_FACTOR = 1.0  # compressed layer / wheels (estimate)


@dataclass(frozen=True, kw_only=True)
class Need:
    """Bytes a build will write, by what writes them."""

    downloads: int = 0  # wheels not in the wheel cache
    trees: int = 0  # installed trees not in the tree cache
    layers: int = 0  # compressed layer blobs not in the layer cache

    @property
    def total(self) -> int:
        return self.downloads + self.trees + self.layers


def installed_size(wheels: Iterable[Wheel]) -> int:
    """The estimated size of ``wheels`` installed (each counted once)."""
    unique = {w.sha256: w for w in wheels}
    return sum(int(w.size * INSTALLED_FACTOR) for w in unique.values())


def estimate(
    wheels: Iterable[Wheel],
    *,
    fetched: Collection[str] = (),
    installed: Collection[str] = (),
    layers: bool = True,
) -> Need:
    """The need of building layers of ``wheels`` (pure): ``fetched`` and ``installed`` are
    the sha256s already in the wheel cache and the tree cache; ``layers``: whether the layer
    blobs are written here (the daemonless builder) or not (streamed to an engine)."""
    unique = {w.sha256: w for w in wheels}.values()
    return Need(
        downloads=sum(w.size for w in unique if w.sha256 not in fetched),
        trees=installed_size(w for w in unique if w.sha256 not in installed),
        layers=int(sum(w.size for w in unique) * LAYER_FACTOR) if layers else 0,
    )


def need_for(
    wheels: Iterable[Wheel],
    cache: WheelCache,
    target: Target | None,
    compiler_version: str | None,
    *,
    layers: bool = True,
) -> Need:
    """``estimate`` with the caches looked at (one stat per wheel). ``target`` None: the
    wheels are installed elsewhere (inside an engine's build), so no tree is made here."""
    unique = {w.sha256: w for w in wheels}.values()
    fetched = {w.sha256 for w in unique if cache.path(w).is_file()}
    if target is None:
        installed = {w.sha256 for w in unique}
    else:
        installed = {w.sha256 for w in unique if has_tree(w, target, compiler_version)}
    return estimate(unique, fetched=fetched, installed=installed, layers=layers)


def check_build(
    wheels: Iterable[Wheel],
    cache: WheelCache,
    target: Target | None,
    compiler_version: str | None,
    *,
    blobs: Path | None,
    what: str,
    extra: Mapping[Path, int] | None = None,
) -> Need:
    """Stop with ``DiskFull`` before a build of ``wheels``' layers that its disks cannot
    hold: downloads go under the wheel cache, trees under the tree cache, layer blobs under
    ``blobs`` (None: not written here), and ``extra`` (path -> bytes) wherever it says (an
    engine's storage). The venv and code layers are small: ``RESERVE`` covers them."""
    need = need_for(wheels, cache, target, compiler_version, layers=blobs is not None)
    places: dict[Path, int] = {}
    for path, size in (
        (cache.root, need.downloads),
        (trees_root(), need.trees),
        *([(blobs, need.layers)] if blobs is not None else []),
        *(extra or {}).items(),
    ):
        places[path] = places.get(path, 0) + size
    check_free(places, what=what)
    return need
