"""``podlock build --builder oci``: plan → base, wheels, layers → image → outputs.

The edges live here (the project on disk, caches, registries, the engine for ``--load``);
every stage it calls is a function of its inputs, so the same lock gives the same digest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from podlock.disk import check_free, full_disk
from podlock.layers.compress import LAYER_TYPES, identity, known
from podlock.layers.diskspace import check_build
from podlock.layers.fetch import fetch_all
from podlock.layers.install import Target, compiler_for
from podlock.layers.system import checked_base, entries_for, layer_key
from podlock.layers.tarlayer import LayerBlob
from podlock.layers.wheels import wheel_cache
from podlock.lock.system import SystemLock, read_system
from podlock.oci.image import (
    LayerSpec,
    Settings,
    build_layer,
    cached_layer,
    image_documents,
    layer_specs,
    remember,
)
from podlock.oci.interpreter import interpreter_for
from podlock.oci.layercache import RemoteLayerCache, materialise
from podlock.oci.layout import Built, finish, write_docker_tar, write_layout
from podlock.oci.layout import load as load_into_engine
from podlock.oci.push import PushResult, push
from podlock.oci.sbom import FILE_NAME, SbomPush, attach, spdx
from podlock.plan.layerplan import LayerPlan
from podlock.plan.load import BuildPlan, default_platform
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


@dataclass(frozen=True, kw_only=True)
class OciOptions:
    """What ``build_oci`` makes of a plan, and where it puts it."""

    platforms: tuple[str, ...] = ()  # default: this machine's
    compression: str = "gzip"
    tag: str | None = None  # default: the plan's
    output_dir: Path | None = None  # an OCI image layout
    output_tar: Path | None = None  # a `docker load`-able tarball
    load_image: bool = False  # into the Docker engine
    push_to: str | None = None
    create_repository: bool = False  # of push_to, in Artifact Registry
    remote_cache: bool = True
    cache_repo: str | None = None  # default: push_to's repository

    def __post_init__(self) -> None:
        known(self.compression)


@dataclass(frozen=True, kw_only=True)
class _Layers:
    """Every layer of the build by key, by where its blob came from."""

    specs: dict[str, LayerSpec]
    local: dict[str, LayerBlob]  # this machine's layer cache
    remote: dict[str, LayerBlob]  # the registry's
    made: dict[str, LayerBlob]

    @property
    def done(self) -> dict[str, LayerBlob]:
        return {**self.local, **self.remote, **self.made}

    def names(self, where: dict[str, LayerBlob]) -> tuple[str, ...]:
        return tuple(s.name for k, s in self.specs.items() if k in where)


def build_oci(
    project: BuildPlan,
    options: OciOptions,
    store: BlobStore | None = None,
    reporter: Reporter | None = None,
) -> OciResult:
    """Build the plan's image without a Docker engine and write/push/load it.

    With a registry (``push_to``, or ``cache_repo``) and ``remote_cache``, the registry is
    the layer cache: layers whose key it records are neither fetched, built nor uploaded,
    and new layers are recorded there after the push."""
    reporter = reporter or NullReporter()
    store = store or BlobStore()
    plan = project.plan
    targets = target_platforms(plan, options.platforms)
    system = (
        read_system(project.lock.meta.system, plan.system_packages, plan.lock_name)
        if plan.system_packages
        else None
    )
    push_ref = _push_ref(options, reporter)
    bases = open_base(plan.base_image, targets, store, reporter)
    push_registry = Registry(push_ref) if push_ref else None
    remote = _remote_cache(
        push_ref, push_registry, options.cache_repo, options.remote_cache, reporter
    )
    settings = _settings(plan.python, options.compression)
    paths: dict[str, Path] = {}  # wheel sha256 -> path; filled for the layers to build
    per_platform = {
        p: _platform_specs(plan, p, bases[p], system, store, settings, paths, reporter)
        for p in targets
    }
    unique = {s.key: s for specs in per_platform.values() for s in specs}
    layers = _build_layers(project, unique, paths, remote, store, settings, reporter)
    done = layers.done
    images = [
        image_documents(
            plan, p, bases[p], [(s, done[s.key]) for s in per_platform[p]], store, settings
        )
        for p in targets
    ]
    built = finish(images, store)
    name = options.tag or plan.default_tag
    document = spdx(plan, targets, epoch=settings.mtime)
    _write_outputs(built, name, document, options, layers, remote, store, settings, reporter)
    pushed, sbom = _push(built, document, push_ref, push_registry, layers, remote, store, reporter)
    recorded = _record(layers, remote, store, push_ref, push_registry if pushed else None, reporter)
    return OciResult(
        built=built,
        tag=name,
        layers_built=layers.names(layers.made),
        layers_cached=layers.names(layers.local),
        layers_remote=layers.names(layers.remote),
        cache_ignored=tuple(remote.ignored) if remote is not None else (),
        cache_recorded=recorded,
        pushed=pushed,
        sbom=sbom,
    )


def _settings(python: str, compression: str) -> Settings:
    compiler, compiler_version = compiler_for(python)
    return Settings(
        compression=compression,
        mtime=source_epoch(),
        compiler=compiler,
        compiler_version=compiler_version,
    )


def _platform_specs(
    plan: LayerPlan,
    platform: str,
    base: BaseImage,
    system: SystemLock | None,
    store: BlobStore,
    settings: Settings,
    paths: Mapping[str, Path],
    reporter: Reporter,
) -> list[LayerSpec]:
    """The layers podlock adds to ``base`` for ``platform``: system (if any), venv, wheels, code."""
    interpreter = interpreter_for(base, plan.python, store)
    target = Target(python=plan.python, interpreter=interpreter)
    specs = layer_specs(plan, platform, target, settings, paths, reporter)
    if system is not None:
        specs.insert(0, system_spec(system, platform, base, store, settings, reporter))
    return specs


def _push_ref(options: OciOptions, reporter: Reporter) -> Reference | None:
    """Where the image goes, if anywhere (its Artifact Registry repository created if asked)."""
    push_ref = Reference.parse(options.push_to) if options.push_to else None
    if push_ref and options.create_repository:
        from podlock.registry.gar import ensure_repository

        ensure_repository(push_ref, create=True, reporter=reporter)
    return push_ref


def _push(
    built: Built,
    document: bytes,
    push_ref: Reference | None,
    registry: Registry | None,
    layers: _Layers,
    remote: RemoteLayerCache | None,
    store: BlobStore,
    reporter: Reporter,
) -> tuple[PushResult | None, SbomPush | None]:
    """Push the image (blobs the remote cache holds are mounted from there), then its SBOM;
    nothing without ``push_ref``."""
    if push_ref is None or registry is None:
        return None, None
    holders = (
        {b.digest: (remote.registry, remote.repository) for b in layers.remote.values()}
        if remote is not None
        else {}
    )
    pushed = push(built, push_ref, store, reporter=reporter, registry=registry, remote=holders)
    sbom = attach(registry, push_ref.repository, built.top, document)
    reporter.info(f"attached the SBOM {sbom.digest[:19]} to the image ({sbom.via})")
    return pushed, sbom


def _build_layers(
    project: BuildPlan,
    unique: dict[str, LayerSpec],
    paths: dict[str, Path],
    remote: RemoteLayerCache | None,
    store: BlobStore,
    settings: Settings,
    reporter: Reporter,
) -> _Layers:
    """Each layer's blob: from this machine's cache, else the registry's, else built (in
    parallel, its wheels fetched first into ``paths``)."""
    local = {k: b for k in unique if (b := cached_layer(k, store)) is not None}
    from_remote: dict[str, LayerBlob] = {}
    if remote is not None:
        media_type = LAYER_TYPES[settings.compression]
        from_remote = remote.lookup_all({k: media_type for k in unique if k not in local})
    todo = {k: s for k, s in unique.items() if k not in local and k not in from_remote}
    wheels, cache = [w for s in todo.values() for w in s.wheels], wheel_cache(project)
    compiler_version = settings.compiler_version if settings.compiler else None
    check_build(wheels, cache, Target(python=project.plan.python), compiler_version,
                blobs=store.root, what=f"the layers of {project.plan.default_tag}")  # fmt: skip
    paths.update(fetch_all(cache, wheels, reporter))
    workers = max(1, min(len(todo), os.cpu_count() or 1))
    layers_task = reporter.task("installing, archiving and compressing layers", total=len(todo))

    def one(spec: LayerSpec) -> LayerBlob:
        made = build_layer(spec, store, settings)[0]
        layers_task.advance()
        return made

    with ThreadPoolExecutor(max_workers=workers) as pool:
        made = dict(zip(todo, pool.map(one, todo.values()), strict=True))
    layers_task.done()
    layers = _Layers(specs=unique, local=local, remote=from_remote, made=made)
    done = layers.done
    for key, spec in unique.items():
        blob = done[key]
        state = (
            "cached" if key in local else "from the registry's layer cache" if key in from_remote
            else "built"
        )  # fmt: skip
        reporter.info(f"layer {spec.name}: {state}, {blob.size / 1e6:.1f} MB {blob.digest[:19]}")
    return layers


def _write_outputs(
    built: Built,
    name: str,
    document: bytes,
    options: OciOptions,
    layers: _Layers,
    remote: RemoteLayerCache | None,
    store: BlobStore,
    settings: Settings,
    reporter: Reporter,
) -> None:
    """The layout (with its SBOM), the tarball, the engine: whichever ``options`` asks for."""
    output_dir, output_tar = options.output_dir, options.output_tar
    if layers.remote and (output_dir or output_tar or options.load_image) and remote is not None:
        for key, blob in layers.remote.items():  # the outputs need the bytes here
            if not store.has(blob.digest):
                materialise(blob, remote.registry, remote.repository, store)
            remember(key, blob)
    if output_dir:
        write_layout(built, output_dir, store, tag=name)
        (output_dir / FILE_NAME).write_bytes(document)
        reporter.info(f"wrote OCI layout {output_dir} ({name}) and its SBOM {FILE_NAME}")
    if output_tar or options.load_image:
        tarball = output_tar or store.root.parent / "tmp" / f"load-{built.digest[7:19]}.tar"
        check_free({tarball.parent: sum(store.size(d) for d in built.blobs())},
                   what=f"the tarball {tarball}")  # fmt: skip
        with full_disk(tarball.parent):  # the half tarball is removed by write_docker_tar
            write_docker_tar(built, tarball, store, tag=name, mtime=settings.mtime)
        try:
            if options.load_image:
                loading = reporter.task("loading into the Docker engine")
                loaded = load_into_engine(tarball)
                loading.done()
                reporter.info(f"loaded into the Docker engine: {loaded}")
        finally:
            if not output_tar:  # only the engine wanted it
                tarball.unlink(missing_ok=True)


def _record(
    layers: _Layers,
    remote: RemoteLayerCache | None,
    store: BlobStore,
    push_ref: Reference | None,
    pushed_to: Registry | None,
    reporter: Reporter,
) -> int:
    """Record the layers the registry's cache lacked there; how many were recorded.
    ``pushed_to``: the registry the image went to, which may hold them already."""
    if remote is None:
        return 0
    recorded = 0
    done = layers.done
    for key in layers.specs:
        if key in layers.remote:
            continue
        recorded += remote.record(
            key,
            done[key],
            store,
            source=pushed_to,
            source_repo=push_ref.repository if push_ref and pushed_to else "",
        )
    if recorded:
        reporter.info(
            f"recorded {recorded} layers in the remote layer cache "
            f"{remote.ref.registry}/{remote.repository}"
        )
    return recorded


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
