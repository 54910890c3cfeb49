"""``podlock lock``'s system step: a variant's system packages resolved against its base
image's distribution, for each of its platforms, into a ``SystemLock``."""

from __future__ import annotations

from collections.abc import Sequence

from podlock import http
from podlock.errors import PodlockError
from podlock.lock.system import Deb, SystemLock, debian_arch
from podlock.registry.blobs import BlobStore
from podlock.reporter import Reporter
from podlock.system.archive import candidates
from podlock.system.basefs import open_system_base
from podlock.system.distro import distribution
from podlock.system.solve import Candidate, index_of, solve

SNAPSHOT = "https://snapshot.debian.org/archive/"


def lock_system(
    packages: Sequence[str],
    *,
    base_image: str | None,
    platforms: Sequence[str],
    variant: str,
    previous: SystemLock | None,
    upgrade: bool,
    reporter: Reporter,
) -> SystemLock:
    """Resolve ``packages`` for each platform. Cost: one InRelease per source and platform
    (Packages indexes only when the archive changed), one read of the base's layers."""
    if not base_image:
        raise PodlockError(
            f"variant {variant} has system packages ({', '.join(packages)}) but no base image "
            "to lock them against",
            hint=f"set base-image in [variants.{variant}]",
        )
    store = BlobStore()
    debs: list[Deb] = []
    status: dict[str, str] = {}
    sources: list[str] = []
    dist_name = ""
    snapshot = None
    with http.Client() as session:
        for platform in sorted(platforms):
            arch = debian_arch(platform)
            _, files = open_system_base(base_image, platform, store, reporter)
            dist = distribution(files)
            dist_name = str(dist)
            status[platform] = files.status_digest
            entries, releases = candidates(dist, arch, session, reporter)
            sources += [str(s) for s in dist.sources]
            preferred = {}
            if previous is not None and not upgrade:
                preferred = {d.name: d.version for d in previous.for_platform(platform)}
            chosen = solve(
                packages,
                index_of(entries, arch),
                dist.installed,
                base=f"{base_image} ({dist}, {platform})",
                preferred=preferred,
            )
            reporter.info(
                f"system packages for {variant} ({platform}): {len(chosen)} debs, "
                f"{sum(c.size for c in chosen) / 1e6:.1f} MB"
            )
            debs += _debs(platform, chosen)
            first = releases[0] if releases else None
            if first and first.origin == "Debian" and first.date and snapshot is None:
                snapshot = _snapshot(first.source.uri, first.date)
    return SystemLock(
        distribution=dist_name,
        sources=tuple(dict.fromkeys(sources)),
        base_status=status,
        debs=tuple(debs),
        snapshot=snapshot,
    )


def _debs(platform: str, chosen: Sequence[Candidate]) -> list[Deb]:
    return [
        Deb(
            platform=platform,
            name=c.name,
            version=c.version,
            architecture=c.architecture,
            url=c.url,
            size=c.size,
            sha256=c.sha256,
        )
        for c in chosen
    ]


def _snapshot(uri: str, date: str) -> str | None:
    """snapshot.debian.org's copy of the archive as of the Release's ``Date``."""
    from email.utils import parsedate_to_datetime

    archive = uri.rstrip("/").rsplit("/", 1)[-1]  # "debian", "debian-security"
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    return f"{SNAPSHOT}{archive}/{when.strftime('%Y%m%dT%H%M%SZ')}/"
