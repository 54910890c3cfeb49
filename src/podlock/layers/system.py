"""The locked .debs into a verified cache, and into an image as the ``system`` layer: a
daemonless layer spec for the OCI builder, and the same layer ``docker load``-ed on top of
the base for the Docker builder (so both give the same diffID, and neither runs apt)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from podlock import http
from podlock.errors import PodlockError
from podlock.layers.debs import system_entries
from podlock.layers.fetch import WORKERS, Progress, fetch
from podlock.layers.tarlayer import Entry, normalised
from podlock.layers.wheels import WheelCache
from podlock.lock.system import Deb, SystemLock, SystemTar, debian_arch
from podlock.paths import cache_dir
from podlock.plan.layerplan import Wheel
from podlock.registry.base import BaseImage
from podlock.registry.blobs import BlobStore
from podlock.registry.model import canonical
from podlock.reporter import NullReporter, Reporter
from podlock.system.basefs import BaseFiles, base_files, open_system_base

LAYER_FORMAT = 3  # bump when the system layer's bytes for the same debs change


def deb_cache() -> WheelCache:
    """``<cache>/debs/<sha[:2]>/<sha>/<file>.deb``: a file there has that sha256."""
    return WheelCache(cache_dir() / "debs")


def unpacked_root() -> Path:
    """``<cache>/debs-unpacked/<sha[:2]>/<sha>/``: a verified .deb's archives decompressed,
    so a warm build reads them instead of decompressing the .deb again."""
    return cache_dir() / "debs-unpacked"


def fetch_debs(
    debs: Sequence[Deb], snapshot: str | None, reporter: Reporter | None = None
) -> dict[str, Path]:
    """Every .deb present and verified (sha256 and size); sha256 -> path. ``WORKERS``
    download at a time; the first failure (in the lock's order) is raised. A .deb gone from
    its mirror comes from ``snapshot`` (snapshot.debian.org) when the lock names one."""
    reporter = reporter or NullReporter()
    cache = deb_cache()
    missing = [d for d in debs if not cache.path(_wheel(d, d.url)).is_file()]
    progress = None
    if missing:
        total = sum(d.size for d in missing)
        reporter.info(f"system packages: downloading {len(missing)} .debs ({total / 1e6:.1f} MB)")
        progress = Progress(total, len(missing), reporter, noun=".deb")
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="podlock-debs")
    with http.Client() as session:
        try:
            jobs = {
                d.sha256: pool.submit(_fetch_deb, cache, d, snapshot, session, progress, reporter)
                for d in debs
            }
            return {sha: job.result() for sha, job in jobs.items()}
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _fetch_deb(
    cache: WheelCache,
    deb: Deb,
    snapshot: str | None,
    session: http.Client,
    progress: Progress | None,
    reporter: Reporter,
) -> Path:
    try:
        return fetch(cache, _wheel(deb, deb.url), session, progress)
    except http.Refused as exc:
        if not snapshot or exc.status != 404 or not deb.pool_path:
            raise
    url = f"{snapshot.rstrip('/')}/{deb.pool_path}"
    reporter.info(f"{deb.filename} left the mirror; fetching it from {url}")
    try:
        return fetch(cache, _wheel(deb, url), session, progress)
    except http.HttpError as again:
        raise PodlockError(
            f"{deb.name} {deb.version} is gone from {deb.url} (HTTP 404) and the snapshot "
            f"archive could not serve it: {again.message}",
            hint="snapshot.debian.org must be reachable (offline?), or run "
            "`podlock lock --upgrade` to lock what the mirror has now",
        ) from None


def _wheel(deb: Deb, url: str) -> Wheel:
    return Wheel(
        package=deb.name,
        version=deb.version,
        filename=deb.filename,
        url=url,
        sha256=deb.sha256,
        size=deb.size,
    )


def checked_base(
    system: SystemLock, platform: str, image: BaseImage, store: BlobStore, name: str
) -> BaseFiles:
    """The base's files, refused unless its dpkg status is the one the lock was made on."""
    files = base_files(image, store, name)
    locked = system.base_status.get(platform)
    if locked != files.status_digest:
        raise PodlockError(
            f"the system packages were locked against another base: {name} ({platform}) has "
            f"dpkg status {files.status_digest[:19]}, the lock {str(locked)[:19]}",
            hint="run `podlock lock --upgrade` after changing the base image",
        )
    return files


def layer_key(system: SystemLock, platform: str, common: Mapping[str, object]) -> str:
    """What the system layer's bytes depend on: the debs, the base's dpkg status, the format."""
    parts = {
        "podlock-system-layer": LAYER_FORMAT,
        **common,
        "base-status": system.base_status.get(platform),
        "debs": sorted(d.sha256 for d in system.for_platform(platform)),
    }
    return hashlib.sha256(canonical(parts)).hexdigest()


def entries_for(
    system: SystemLock, platform: str, base: BaseFiles, reporter: Reporter | None = None
) -> list[Entry]:
    """The system layer's entries for ``platform`` (fetching the .debs if need be)."""
    debs = system.for_platform(platform)
    paths = fetch_debs(debs, system.snapshot, reporter)
    return system_entries(debs, paths, base, debian_arch(platform), unpacked_root())


def tar_entries(source: SystemTar, reporter: Reporter | None = None) -> list[Entry]:
    """The normalised entries of a build context's system tar: the base read (and checked
    against the lock), the .debs fetched and verified. Cost: one read of the base's layers
    (cached) and of every .deb."""
    reporter = reporter or NullReporter()
    store = BlobStore()
    image, _ = open_system_base(source.base_image, source.platform, store, reporter)
    files = checked_base(source.system, source.platform, image, store, source.base_image)
    return normalised(entries_for(source.system, source.platform, files, reporter))
