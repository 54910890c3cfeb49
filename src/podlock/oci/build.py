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

from podlock.builder.build import default_platform, load, wheel_cache
from podlock.builder.plan import HEAVY_BYTES, LayerPlan
from podlock.errors import PodlockError
from podlock.oci.base import open_base
from podlock.oci.blobs import BlobStore
from podlock.oci.compress import known
from podlock.oci.fetch import fetch_all
from podlock.oci.image import LayerSpec, PlatformImage, Settings, assemble, build_layer, layer_specs
from podlock.oci.install import Target, compiler_for
from podlock.oci.interpreter import interpreter_for
from podlock.oci.layout import Built, finish, write_docker_tar, write_layout
from podlock.oci.layout import load as load_into_engine
from podlock.oci.model import source_epoch
from podlock.oci.push import PushResult, push
from podlock.oci.reference import Reference
from podlock.oci.tarlayer import LayerBlob
from podlock.platforms import Platform
from podlock.reporter import NullReporter, Reporter


@dataclass(frozen=True, kw_only=True)
class OciResult:
    built: Built
    tag: str
    layers_built: tuple[str, ...] = ()
    layers_cached: tuple[str, ...] = ()
    pushed: PushResult | None = None

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
) -> OciResult:
    """Build the variant's image without a Docker engine and write/push/load it."""
    reporter = reporter or NullReporter()
    store = store or BlobStore()
    known(compression)
    project = load(root, variant_name, base=base, heavy_bytes=heavy_bytes)
    plan = project.plan
    targets = _platforms(plan, platforms)
    if plan.system_packages:
        raise PodlockError(
            f"variant {plan.variant} has system packages ({', '.join(plan.system_packages)}); "
            "the daemonless builder cannot run apt",
            hint="build with --builder docker, or use a base image that already has them",
        )
    push_ref = Reference.parse(push_to) if push_to else None
    if push_ref and create_repository:
        from podlock.oci.gar import ensure_repository

        ensure_repository(push_ref, create=True, reporter=reporter)
    bases = open_base(plan.base_image, targets, store, reporter)
    wheels = [w for layer in plan.wheel_layers for p in targets for w in layer.wheels.get(p, ())]
    paths = fetch_all(wheel_cache(project), wheels, reporter)
    compiler, compiler_version = compiler_for(plan.python)
    settings = Settings(
        compression=compression,
        mtime=source_epoch(),
        compiler=compiler,
        compiler_version=compiler_version,
    )
    per_platform: dict[str, list[LayerSpec]] = {}
    for platform in targets:
        interpreter = interpreter_for(bases[platform], plan.python, store)
        target = Target(python=plan.python, interpreter=interpreter)
        per_platform[platform] = layer_specs(plan, platform, target, settings, paths, reporter)
    unique = {s.key: s for specs in per_platform.values() for s in specs}
    workers = max(1, min(len(unique), os.cpu_count() or 1))
    layers_task = reporter.task("installing, archiving and compressing layers", total=len(unique))

    def one(spec: LayerSpec) -> tuple[LayerBlob, bool]:
        made = build_layer(spec, store, settings)
        layers_task.advance()
        return made

    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = dict(zip(unique, pool.map(one, unique.values()), strict=True))
    layers_task.done()
    for key, spec in unique.items():
        blob, cached = done[key]
        state = "cached" if cached else "built"
        reporter.info(f"layer {spec.name}: {state}, {blob.size / 1e6:.1f} MB {blob.digest[:19]}")
    images: list[PlatformImage] = [
        assemble(plan, p, bases[p], [(s, done[s.key][0]) for s in per_platform[p]], store, settings)
        for p in targets
    ]
    built = finish(images, store)
    name = tag or plan.default_tag
    if output_dir:
        write_layout(built, output_dir, store, tag=name)
        reporter.info(f"wrote OCI layout {output_dir} ({name})")
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
    pushed = push(built, push_ref, store, reporter=reporter) if push_ref else None
    return OciResult(
        built=built,
        tag=name,
        layers_built=tuple(s.name for k, s in unique.items() if not done[k][1]),
        layers_cached=tuple(s.name for k, s in unique.items() if done[k][1]),
        pushed=pushed,
    )


def _platforms(plan: LayerPlan, wanted: Sequence[str] | None) -> list[str]:
    if not wanted:
        return [default_platform(plan, Platform.parse(f"linux/{os.uname().machine}").arch)]
    out = []
    for text in wanted:
        platform = str(Platform.parse(text))
        if platform not in plan.platforms:
            raise PodlockError(
                f"{plan.lock_name} has no {platform} (it has {', '.join(plan.platforms)})",
                hint=f"add {platform} to [variants.{plan.variant}] platforms, then `podlock lock`",
            )
        out.append(platform)
    return list(dict.fromkeys(out))
