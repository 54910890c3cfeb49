"""A lock is complete per wheel: each wheel it keeps has its own requirements in the lock.

Wheels of one version may declare different dependencies (xgboost 2.1.3's manylinux_2_28
wheel requires nvidia-nccl-cu12, its manylinux2014 wheel does not), while both backends
read one wheel's metadata per version. So every kept wheel's metadata is read (PEP 658,
else from the wheel by range requests; cached by sha256, so a relock reads only the disk)
and its ``Requires-Dist`` evaluated on each platform the wheel installs on, with the
extras asked of its package there. What the lock lacks is a ``Gap``; the pipeline
resolves again with each gap's requirement, restricted to the platforms that lack it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from podlock.inputs.indexes import Index
from podlock.inputs.runtime import VariantRequirements
from podlock.paths import cache_dir
from podlock.platforms import Platform
from podlock.resolver.model import RawArtifact, Resolved

if TYPE_CHECKING:
    # At run time only inside read_metadata: importing the python backend's package costs
    # ~0.1 s (resolvelib), which a no-op ``podlock lock`` must not pay.
    from podlock.resolver.python.metadata import CoreMetadata, MetadataStore

_WORKERS = 32  # small requests, mostly waiting on the network
_EXTRA = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")

Env = tuple[tuple[str, str], ...]  # marker variables, hashable for the memo


@dataclass(frozen=True, kw_only=True)
class Gap:
    """A requirement of a kept wheel that no package of the lock satisfies on ``platforms``."""

    package: str  # the wheel's project, ``name version``
    wheel: str  # the first wheel (by file name) that declares it
    requirement: str  # as the wheel declares it
    platforms: frozenset[Platform]

    def restricted(self) -> str:
        """The requirement, holding only where it is missing (what to resolve again with)."""
        req = Requirement(self.requirement)
        req.marker = Marker(" or ".join(f"({p.marker})" for p in sorted(self.platforms)))
        return str(req)

    def __str__(self) -> str:
        where = ", ".join(str(p) for p in sorted(self.platforms))
        return f"{self.wheel} requires {self.requirement!r} (on {where})"


@dataclass(frozen=True, kw_only=True)
class Completeness:
    """What a variant's kept wheels require that the lock lacks, and the extras asked of
    each pinned package: ``extras[name][platform]`` (an export pins ``name[extras]``,
    which pip needs in ``--require-hashes`` mode)."""

    gaps: list[Gap]
    extras: dict[str, dict[Platform, frozenset[str]]]


def find_gaps(
    vreq: VariantRequirements,
    pruned: Sequence[Resolved],
    metadata: Mapping[str, CoreMetadata],
) -> list[Gap]:
    """The kept wheels' requirements that the pins don't satisfy; pure."""
    return completeness(vreq, pruned, metadata).gaps


def completeness(
    vreq: VariantRequirements,
    pruned: Sequence[Resolved],
    metadata: Mapping[str, CoreMetadata],
) -> Completeness:
    """The kept wheels' requirements that the pins don't satisfy, and the extras asked of
    the pins on each platform; pure.

    ``metadata`` is keyed by wheel sha256; a wheel missing from it is not checked.
    """
    python = vreq.variant.python
    envs = {p: _env(p, python) for p in vreq.variant.platforms}
    asked = _root_extras(vreq.requirements, envs)
    pins: dict[str, list[Resolved]] = {}
    for r in pruned:
        pins.setdefault(r.name, []).append(r)
    while True:
        found: dict[tuple[str, str], tuple[str, set[Platform]]] = {}
        grew = False
        for r, wheel, platform, req, text in _applying(pruned, metadata, envs, asked, python):
            extras = asked.setdefault((canonicalize_name(req.name), platform), set())
            wanted = {canonicalize_name(e) for e in req.extras}
            if not wanted <= extras:
                extras |= wanted
                grew = True
            if not _satisfied(req, platform, pins):
                key = (f"{r.name} {r.version}", text)
                first, where = found.setdefault(key, (wheel, set()))
                found[key] = (min(first, wheel), where | {platform})
        if not grew:
            gaps = [
                Gap(package=pkg, wheel=wheel, requirement=text, platforms=frozenset(where))
                for (pkg, text), (wheel, where) in sorted(found.items())
            ]
            return Completeness(gaps=gaps, extras=_pinned_extras(asked, pins))


def _pinned_extras(
    asked: Mapping[tuple[str, Platform], set[str]], pins: Mapping[str, Sequence[Resolved]]
) -> dict[str, dict[Platform, frozenset[str]]]:
    out: dict[str, dict[Platform, frozenset[str]]] = {}
    for (name, platform), extras in sorted(asked.items()):
        if extras and any(platform in r.platforms for r in pins.get(name, ())):
            out.setdefault(name, {})[platform] = frozenset(extras)
    return out


def wheels_to_read(pruned: Iterable[Resolved]) -> list[RawArtifact]:
    """The kept wheels of ``pruned`` (sdists' requirements are only known after a build)."""
    return [w for r in pruned for w in r.wheels if w.sha256]


def read_metadata(
    wheels: Sequence[RawArtifact], *, indexes: Sequence[Index], offline: bool
) -> dict[str, CoreMetadata]:
    """Metadata of ``wheels`` by sha256: from podlock's cache, else PEP 658, else range
    requests. Cost: nothing on the network for wheels read before; else one or a few small
    requests each, in parallel (``_WORKERS``)."""
    from podlock.resolver.python.http_cache import HttpClient
    from podlock.resolver.python.metadata import MetadataStore, local_wheel_metadata

    out: dict[str, CoreMetadata] = {}
    remote: dict[str, RawArtifact] = {}
    for wheel in wheels:
        assert wheel.sha256 is not None
        local = _local_path(wheel)
        if local is not None:
            out[wheel.sha256] = local_wheel_metadata(local)
        elif wheel.url:
            remote.setdefault(wheel.sha256, wheel)
    if remote:
        http = HttpClient(indexes=indexes, offline=offline)
        with ThreadPoolExecutor(_WORKERS, thread_name_prefix="podlock-metadata") as pool:
            store = MetadataStore(http, pool, cache_dir() / "python-resolver" / "metadata")
            out.update(_read_remote(store, remote))
    return out


def _read_remote(
    store: MetadataStore, wheels: Mapping[str, RawArtifact]
) -> dict[str, CoreMetadata]:
    """Read in the store's pool. A resolution's pins say nothing of PEP 658: each host's first
    wheel not in the cache tries ``.metadata``, and how it went decides for the host's others
    (behind a proxy that serves none, a 404 per wheel doubled the time)."""
    from podlock.resolver.python.simple_api import Link, parse_dist

    futures: dict[str, Future[CoreMetadata]] = {}
    serves: dict[str, bool] = {}  # host -> whether its first wheel had a ``.metadata``
    for sha256, wheel in sorted(wheels.items()):
        assert wheel.url is not None
        host = urlsplit(wheel.url).netloc
        link = Link(
            filename=wheel.filename, url=wheel.url, sha256=sha256, metadata=serves.get(host, True)
        )
        dist = parse_dist(link)
        if dist is None:
            continue
        futures[sha256] = store.prefetch(dist)
        if host not in serves and store.sources.get(link.filename) != "cache":
            futures[sha256].result()
            serves[host] = store.sources.get(link.filename) == "pep658"
    return {sha256: future.result() for sha256, future in futures.items()}


def _applying(
    pruned: Sequence[Resolved],
    metadata: Mapping[str, CoreMetadata],
    envs: Mapping[Platform, Env],
    asked: Mapping[tuple[str, Platform], set[str]],
    python: str,
) -> Iterable[tuple[Resolved, str, Platform, Requirement, str]]:
    """(pin, wheel file name, platform, requirement, its text) for every requirement of a
    kept wheel that holds on a platform where the wheel installs and its pin is needed."""
    for r in pruned:
        for wheel in r.wheels:
            meta = metadata.get(wheel.sha256 or "")
            if meta is None:
                continue
            installs = _installs_on(wheel.filename, tuple(sorted(envs)), python)
            for platform in sorted(r.platforms & installs):
                extras = ("", *sorted(asked.get((r.name, platform), ())))
                for text in meta.requires_dist:
                    gate = _gated(text)
                    if gate is not None and gate not in extras:
                        continue  # an extra nobody asked for (most lines): no parse needed
                    req = _requirement(text)
                    if req is not None and _holds(text, envs[platform], extras):
                        yield r, wheel.filename, platform, req, text


@lru_cache(maxsize=65536)
def _gated(text: str) -> str | None:
    """The one extra a Requires-Dist line holds for only, when its marker is a conjunction
    with ``extra == "name"`` (read without a parse); None otherwise."""
    _, semicolon, marker = text.partition(";")
    if not semicolon or " or " in marker:
        return None
    found = _EXTRA.findall(marker)
    return canonicalize_name(found[0]) if len(found) == 1 else None


def _root_extras(
    requirements: Iterable[str], envs: Mapping[Platform, Env]
) -> dict[tuple[str, Platform], set[str]]:
    """Extras the variant's own requirements ask of each package, per platform."""
    asked: dict[tuple[str, Platform], set[str]] = {}
    for text in requirements:
        req = _requirement(text)
        if req is None:
            continue
        for platform, env in envs.items():
            if _holds(text, env, ("",)):
                extras = asked.setdefault((canonicalize_name(req.name), platform), set())
                extras |= {canonicalize_name(e) for e in req.extras}
    return asked


def _satisfied(
    req: Requirement, platform: Platform, pins: Mapping[str, Sequence[Resolved]]
) -> bool:
    for r in pins.get(canonicalize_name(req.name), ()):
        if platform not in r.platforms:
            continue
        if r.version is None or req.url:
            return True
        version = _version(r.version)
        if version is None or req.specifier.contains(version, prereleases=True):
            return True
    return False


@lru_cache(maxsize=16384)
def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _holds(text: str, env: Env, extras: tuple[str, ...]) -> bool:
    """Whether requirement ``text``'s marker holds in ``env`` for one of ``extras``."""
    return any(_evaluate(text, env, extra) for extra in extras)


@lru_cache(maxsize=65536)
def _installs_on(
    filename: str, platforms: tuple[Platform, ...], python: str
) -> frozenset[Platform]:
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return frozenset()
    return frozenset(p for p in platforms if not tags.isdisjoint(p.accepts(python)))


def _env(platform: Platform, python: str) -> Env:
    return tuple(sorted((k, str(v)) for k, v in platform.environment(python).items()))


@lru_cache(maxsize=65536)
def _evaluate(text: str, env: Env, extra: str) -> bool:
    req = _requirement(text)
    if req is None or req.marker is None:
        return req is not None
    return req.marker.evaluate({**dict(env), "extra": extra})


@lru_cache(maxsize=16384)
def _requirement(text: str) -> Requirement | None:
    """A Requires-Dist line parsed (None: invalid); shared, never changed in place."""
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def _local_path(wheel: RawArtifact) -> Path | None:
    if wheel.path is not None:
        return Path(wheel.path)
    if wheel.url and wheel.url.startswith("file:"):
        return Path(unquote(urlsplit(wheel.url).path))
    return None
