"""``podlock outdated``: per variant, the locked packages whose index has a newer release.

``latest_allowed`` is what ``lock --upgrade`` would pick under the current requirements (a
resolution with upgrade, nothing written); ``latest`` is the newest release on the index
the package is locked from that installs on the lock's Python and platforms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from podlock.errors import LockError
from podlock.inputs.config import VariantConfig
from podlock.inputs.discover import Inputs
from podlock.inputs.indexes import Index, IndexPlan, index_plan
from podlock.inputs.runtime import variant_requirements
from podlock.lock.pylock import LoadedLock
from podlock.lock.status import check
from podlock.paths import cache_dir
from podlock.platforms import Platform
from podlock.reporter import Reporter
from podlock.resolver.changes import versions
from podlock.resolver.model import Backend, ResolveOptions
from podlock.resolver.pipeline import resolve_locks
from podlock.resolver.python.http_cache import HttpClient
from podlock.resolver.python.pages import ProjectPages


@dataclass(frozen=True, kw_only=True)
class Outdated:
    """One locked package with a newer release; ``latest_allowed`` None: none allowed."""

    name: str
    direct: bool
    locked: str
    latest_allowed: str | None
    latest: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "direct": self.direct,
            "locked": self.locked,
            "latest_allowed": self.latest_allowed,
            "latest": self.latest,
        }


@dataclass(frozen=True, kw_only=True)
class VariantOutdated:
    variant: str
    path: str
    packages: tuple[Outdated, ...]  # direct dependencies first, then by name

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "path": self.path,
            "packages": [p.to_dict() for p in self.packages],
        }


def outdated(
    inputs: Inputs,
    variants: Sequence[VariantConfig],
    *,
    backend: Backend,
    reporter: Reporter,
) -> list[VariantOutdated]:
    """Each variant's outdated packages. Cost: one resolution of all variants (with upgrade,
    nothing written) and one index page per locked package."""
    loaded: dict[str, LoadedLock] = {}
    for status in check(inputs, variants):
        if status.loaded is None:
            raise LockError(status.state, path=str(status.path), hint="run `podlock lock`")
        if not status.ok:
            reporter.warn(f"{status.path.name} is stale ({status.reason}); comparing it as is")
        loaded[status.variant] = status.loaded
    fresh = resolve_locks(
        inputs,
        variants,
        backend=backend,
        mode=ResolveOptions(upgrade=True, read_only=True),
        reporter=reporter,
    )
    allowed = {lk.meta.variant: versions((p.name, p.version) for p in lk.packages) for lk in fresh}
    out = []
    for variant in variants:
        lock = loaded[variant.name]
        direct = variant_requirements(inputs, variant).direct
        plan = index_plan(inputs, variant)
        latest = _latest_releases(lock, plan)
        rows = []
        for raw in lock.data.get("packages", []):
            name, locked = canonicalize_name(str(raw["name"])), raw.get("version")
            if locked is None:
                continue  # a URL or VCS requirement has no newer release to speak of
            newest_allowed = allowed[variant.name].get(name)
            newest = latest.get(name)
            if not (_newer(newest_allowed, locked) or _newer(newest, locked)):
                continue
            rows.append(
                Outdated(
                    name=name,
                    direct=name in direct,
                    locked=str(locked),
                    latest_allowed=newest_allowed,
                    latest=newest,
                )
            )
        unique = {r.name: r for r in rows}.values()  # a name locked per platform: once
        ordered = sorted(unique, key=lambda r: (not r.direct, r.name))
        out.append(
            VariantOutdated(variant=variant.name, path=lock.path.name, packages=tuple(ordered))
        )
    return out


def _latest_releases(lock: LoadedLock, plan: IndexPlan) -> dict[str, str]:
    """Name -> the newest version on its index installable on the lock's targets
    (pre-releases only where the lock already has one, or ``--pre`` is set)."""
    by_url = {i.url: i for i in plan.indexes}
    default = [i for i in plan.indexes if not i.explicit]
    python = lock.meta.python
    platforms = tuple(Platform.parse(p) for p in lock.meta.platforms)
    http = HttpClient(indexes=plan.indexes, cache=cache_dir() / "python-resolver" / "pages")
    wanted: dict[str, tuple[list[Index], bool]] = {}
    for raw in lock.data.get("packages", []):
        name: str = canonicalize_name(str(raw["name"]))
        version = raw.get("version")
        if version is None or name in wanted:
            continue
        where = _indexes_for(name, raw.get("index"), by_url, plan, default)
        wanted[name] = (where, plan.pre or _is_pre(str(version)))
    out: dict[str, str] = {}
    with ThreadPoolExecutor(8, thread_name_prefix="podlock-outdated") as pool:
        pages = ProjectPages(http, pool, None)
        for name, (where, pre) in wanted.items():
            found = pages.first(where, name)
            if found is None:
                continue
            for release in found[1].releases(python, platforms):
                if (
                    release.files
                    and not release.yanked
                    and (pre or not release.version.is_prerelease)
                ):
                    out[name] = str(release.version)
                    break
    return out


def _indexes_for(
    name: str,
    locked_from: object,
    by_url: Mapping[str, Index],
    plan: IndexPlan,
    default: list[Index],
) -> list[Index]:
    """The index a package was locked from, else the one it is routed to, else the defaults."""
    if isinstance(locked_from, str):
        url = locked_from.rstrip("/")
        for key, index in by_url.items():
            if key.rstrip("/") == url:
                return [index]
    routed = plan.sources.get(name)
    if routed:
        return [i for i in plan.indexes if i.name == routed]
    return default


def _newer(candidate: str | None, locked: object) -> bool:
    if candidate is None:
        return False
    try:
        return Version(candidate) > Version(str(locked))
    except InvalidVersion:
        return False


def _is_pre(version: str) -> bool:
    try:
        return Version(version).is_prerelease
    except InvalidVersion:
        return False
