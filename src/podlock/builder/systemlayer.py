"""The Docker builder's system layer: the daemonless builder's ``system`` layer (same
entries, same mtime, so the same diffID), ``docker load``-ed on top of the base as an image
of its own, ``podlock-layers/system:<key>``; the rest of the build starts from it. No apt
runs in the build."""

from __future__ import annotations

from dataclasses import replace

from podlock.builder.layerimages import LAYER_REPO
from podlock.builder.loadlayer import layer_tarball
from podlock.engine import Engine
from podlock.errors import PodlockError
from podlock.layers.compress import identity
from podlock.layers.system import checked_base, entries_for, layer_key
from podlock.layers.tarlayer import normalised
from podlock.lock.system import read_system
from podlock.plan.load import BuildPlan
from podlock.registry.blobs import BlobStore
from podlock.registry.model import source_epoch
from podlock.reporter import Reporter
from podlock.system.basefs import open_system_base


def with_system_layer(
    project: BuildPlan, engine: Engine, platform: str, reporter: Reporter
) -> BuildPlan:
    """``project`` planned on its base plus the system layer (loaded if the engine lacks
    it), with the system layer taken out of the plan."""
    plan = project.plan
    system = read_system(project.lock.meta.system, plan.system_packages, plan.lock_name)
    if not engine.stacks_loaded_layers():
        raise PodlockError(
            "this engine's image store (containerd) cannot stack a loaded layer on the base",
            hint="build with --builder oci --load, or use the classic image store (overlay2)",
        )
    store = BlobStore()
    image, _ = open_system_base(plan.base_image, platform, store, reporter)
    files = checked_base(system, platform, image, store, plan.base_image)
    mtime = source_epoch()
    key = layer_key(system, platform, {"compression": identity("gzip"), "mtime": mtime})
    info = engine.image(plan.base_image)
    if info is None:
        raise PodlockError(f"the engine has no base image {plan.base_image}")
    tag = f"{LAYER_REPO}system:{key[:16]}-{str(info['Id'])[7:19]}"
    if engine.image(tag) is None:
        entries = normalised(entries_for(system, platform, files, reporter))
        stream = layer_tarball(
            info,
            engine.history(plan.base_image),
            entries,
            tag=tag,
            created_by=f"podlock: system layer ({len(system.for_platform(platform))} debs)",
            mtime=mtime,
        )
        engine.load(stream)
        reporter.info(f"layer system: loaded ({tag})")
    else:
        reporter.info(f"layer system: cached ({tag})")
    layers = tuple(layer for layer in plan.layers if layer.kind != "system")
    return replace(project, plan=replace(plan, base_image=tag, layers=layers))
