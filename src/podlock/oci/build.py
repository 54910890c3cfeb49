"""``podlock build --builder oci``: lock → plan → base, wheels, layers → image → outputs.

The edges live here (the project on disk, caches, registries, the engine for ``--load``);
every stage it calls is a function of its inputs, so the same lock gives the same digest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from podlock.errors import PodlockError
from podlock.layers.compress import LAYER_TYPES, identity, known
from podlock.layers.fetch import fetch_all
from podlock.layers.install import Target, compiler_for
from podlock.layers.system import checked_base, entries_for, layer_key
from podlock.layers.tarlayer import LayerBlob
from podlock.layers.wheels import wheel_cache
from podlock.lock.system import SystemLock, read_system
from podlock.oci.image import (
    LayerSpec,
    PlatformImage,
    Settings,
    assemble,
    build_layer,
    cached_layer,
    layer_specs,
    remember,
)
from podlock.oci.interpreter import interpreter_for
from podlock.oci.layercache import RemoteLayerCache, materialise
from podlock.oci.layout import Built, finish, write_docker_tar, write_layout
from podlock.oci.layout import load as load_into_engine
from podlock.oci.push import PushResult, push
from podlock.oci.sbom import FILE_NAME, SbomPush, attach, spdx
from podlock.plan.layerplan import HEAVY_BYTES, LayerPlan
from podlock.plan.load import default_platform, load_plan
from podlock.platforms import Platform
from podlock.registry.base import BaseImage, open_base
from podlock.registry.blobs import BlobStore
from podlock.registry.client import Registry
from podlock.registry.model import source_epoch
from podlock.registry.reference import Reference
from podlock.reporter import NullReporter, Reporter


@dataclass(frozen=True, kw_only=True)
class OciResult:
    built: Built
    tag: str
    layers_built: tuple[str, ...] = ()
    layers_cached: tuple[str, ...] = ()  # from this machine's layer cache
    layers_remote: tuple[str, ...] = ()  # from the registry's (nothing fetched or built)
    cache_ignored: tuple[str, ...] = ()  # remote cache records not trusted (tags)
    cache_recorded: int = 0  # records written to the remote cache
    pushed: PushResult | None = None
    sbom: SbomPush | None = None  # the SBOM referrer pushed with the image

    @property
    def digest(self) -> str:
        return self.built.digest


def build_oci(
    root: Path,
    variant_name: str,
    *,
    base: str | None = None,
    platforms: Sequence[str] | None = None,
    compression: str = "gzip",
    tag: str | None = None,
    output_dir: Path | None = None,
    output_tar: Path | None = None,
    load_image: bool = False,
    push_to: str | None = None,
    create_repository: bool = False,
    heavy_bytes: int = HEAVY_BYTES,
    reporter: Reporter | None = None,
    store: BlobStore | None = None,
    remote_cache: bool = True,
    cache_repo: str | None = None,
) -> OciResult:
    """Build the variant's image without a Docker engine and write/push/load it.

    With a registry (``push_to``, or ``cache_repo``) and ``remote_cache``, the registry is
    the layer cache: layers whose key it records are neither fetched, built nor uploaded,
    and new layers are recorded there after the push."""
    reporter = reporter or NullReporter()
    store = store or BlobStore()
    known(compression)
    project = load_plan(root, variant_name, base=base, heavy_bytes=heavy_bytes)
    plan = project.plan
    targets = target_platforms(plan, platforms)
    system = (
        read_system(project.lock.meta.system, plan.system_packages, plan.lock_name)
        if plan.system_packages
        else None
    )
    push_ref = Reference.parse(push_to) if push_to else None
    if push_ref and create_repository:
        from podlock.registry.gar import ensure_repository

        ensure_repository(push_ref, create=True, reporter=reporter)
    bases = open_base(plan.base_image, targets, store, reporter)
    push_registry = Registry(push_ref) if push_ref else None
    remote = _remote_cache(push_ref, push_registry, cache_repo, remote_cache, reporter)
    compiler, compiler_version = compiler_for(plan.python)
    settings = Settings(
        compression=compression,
        mtime=source_epoch(),
        compiler=compiler,
        compiler_version=compiler_version,
    )
    paths: dict[str, Path] = {}  # wheel sha256 -> path; filled for the layers to build
    per_platform: dict[str, list[LayerSpec]] = {}
    for platform in targets:
        interpreter = interpreter_for(bases[platform], plan.python, store)
        target = Target(python=plan.python, interpreter=interpreter)
        per_platform[platform] = layer_specs(plan, platform, target, settings, paths, reporter)
        if system is not None:
            spec = system_spec(system, platform, bases[platform], store, settings, reporter)
            per_platform[platform].insert(0, spec)
    unique = {s.key: s for specs in per_platform.values() for s in specs}
    local = {k: b for k in unique if (b := cached_layer(k, store)) is not None}
    from_remote: dict[str, LayerBlob] = {}
    if remote is not None:
        media_type = LAYER_TYPES[compression]
        from_remote = remote.lookup_all({k: media_type for k in unique if k not in local})
    todo = {k: s for k, s in unique.items() if k not in local and k not in from_remote}
    paths.update(
        fetch_all(wheel_cache(project), [w for s in todo.values() for w in s.wheels], reporter)
    )
    workers = max(1, min(len(todo), os.cpu_count() or 1))
    layers_task = reporter.task("installing, archiving and compressing layers", total=len(todo))

    def one(spec: LayerSpec) -> LayerBlob:
        made = build_layer(spec, store, settings)[0]
        layers_task.advance()
        return made

    with ThreadPoolExecutor(max_workers=workers) as pool:
        made = dict(zip(todo, pool.map(one, todo.values()), strict=True))
    layers_task.done()
    done: dict[str, LayerBlob] = {**local, **from_remote, **made}
    for key, spec in unique.items():
        blob = done[key]
        state = (
            "cached" if key in local else "from the registry's layer cache" if key in from_remote
            else "built"
        )  # fmt: skip
        reporter.info(f"layer {spec.name}: {state}, {blob.size / 1e6:.1f} MB {blob.digest[:19]}")
    images: list[PlatformImage] = [
        assemble(plan, p, bases[p], [(s, done[s.key]) for s in per_platform[p]], store, settings)
        for p in targets
    ]
    built = finish(images, store)
    name = tag or plan.default_tag
    if from_remote and (output_dir or output_tar or load_image) and remote is not None:
        for key, blob in from_remote.items():  # the outputs need the bytes here
            if not store.has(blob.digest):
                materialise(blob, remote.registry, remote.repository, store)
            remember(key, blob)
    document = spdx(plan, targets, epoch=settings.mtime)
    if output_dir:
        write_layout(built, output_dir, store, tag=name)
        (output_dir / FILE_NAME).write_bytes(document)
        reporter.info(f"wrote OCI layout {output_dir} ({name}) and its SBOM {FILE_NAME}")
    if output_tar or load_image:
        tarball = output_tar or store.root.parent / "tmp" / f"load-{built.digest[7:19]}.tar"
        write_docker_tar(built, tarball, store, tag=name, mtime=settings.mtime)
        try:
            if load_image:
                loading = reporter.task("loading into the Docker engine")
                loaded = load_into_engine(tarball)
                loading.done()
                reporter.info(f"loaded into the Docker engine: {loaded}")
        finally:
            if not output_tar:  # only the engine wanted it
                tarball.unlink(missing_ok=True)
    pushed = None
    sbom = None
    if push_ref:
        holders = (
            {b.digest: (remote.registry, remote.repository) for b in from_remote.values()}
            if remote is not None
            else {}
        )
        pushed = push(
            built, push_ref, store, reporter=reporter, registry=push_registry, remote=holders
        )
        assert push_registry is not None
        sbom = attach(push_registry, push_ref.repository, built.top, document)
        reporter.info(f"attached the SBOM {sbom.digest[:19]} to the image ({sbom.via})")
    recorded = 0
    if remote is not None:
        for key in unique:
            if key in from_remote:
                continue
            recorded += remote.record(
                key,
                done[key],
                store,
                source=push_registry if pushed else None,
                source_repo=push_ref.repository if push_ref and pushed else "",
            )
        if recorded:
            reporter.info(
                f"recorded {recorded} layers in the remote layer cache "
                f"{remote.ref.registry}/{remote.repository}"
            )
    return OciResult(
        built=built,
        tag=name,
        layers_built=tuple(s.name for k, s in unique.items() if k in made),
        layers_cached=tuple(s.name for k, s in unique.items() if k in local),
        layers_remote=tuple(s.name for k, s in unique.items() if k in from_remote),
        cache_ignored=tuple(remote.ignored) if remote is not None else (),
        cache_recorded=recorded,
        pushed=pushed,
        sbom=sbom,
    )


def system_spec(
    system: SystemLock,
    platform: str,
    base: BaseImage,
    store: BlobStore,
    settings: Settings,
    reporter: Reporter,
) -> LayerSpec:
    """The ``system`` layer (the locked .debs unpacked) on ``base``, which must be the base
    the lock was made on."""
    files = checked_base(system, platform, base, store, base.name or base.digest)
    common = {"compression": identity(settings.compression), "mtime": settings.mtime}
    return LayerSpec(
        name="system",
        kind="system",
        key=layer_key(system, platform, common),
        entries=lambda: entries_for(system, platform, files, reporter),
    )


def _remote_cache(
    push_ref: Reference | None,
    push_registry: Registry | None,
    cache_repo: str | None,
    enabled: bool,
    reporter: Reporter,
) -> RemoteLayerCache | None:
    """The registry's layer cache: ``cache_repo``, else the push target's repository."""
    if not enabled:
        return None
    if cache_repo:
        ref = Reference.parse(cache_repo)
        if push_ref is not None and push_registry is not None and ref.registry == push_ref.registry:
            return RemoteLayerCache(ref=ref, registry=push_registry, reporter=reporter)
        return RemoteLayerCache.open(ref, reporter)
    if push_ref is None or push_registry is None:
        return None
    return RemoteLayerCache(ref=push_ref, registry=push_registry, reporter=reporter)


def target_platforms(plan: LayerPlan, wanted: Sequence[str] | None) -> list[str]:
    if not wanted:
        return [default_platform(plan, Platform.parse(f"linux/{os.uname().machine}").arch)]
    out = []
    for text in wanted:
        platform = str(Platform.parse(text))
        plan.require_platform(platform)
        out.append(platform)
    return list(dict.fromkeys(out))
