"""The edge both builders start from: read the project and its lock, then plan (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from podlock.engine import Engine
from podlock.errors import LockError, PodlockError
from podlock.inputs.config import VariantConfig
from podlock.inputs.discover import Inputs, discover
from podlock.lock.pylock import LoadedLock
from podlock.lock.status import check
from podlock.plan.codepackage import collect
from podlock.plan.layerplan import HEAVY_BYTES, LayerPlan, plan
from podlock.reporter import Reporter


@dataclass(frozen=True, kw_only=True)
class BuildPlan:
    """One variant's build, planned: the inputs, lock and LayerPlan both builders start from."""

    root: Path  # the project directory as given (messages name it so)
    inputs: Inputs
    variant: VariantConfig
    lock: LoadedLock
    heavy_bytes: int
    plan: LayerPlan

    def pinned(self, engine: Engine) -> BuildPlan:
        """This project on ``engine``'s digest of its base image: planned again, not reloaded."""
        base = engine.pinned(self.plan.base_image)
        if base == self.plan.base_image:
            return self
        again = plan(
            self.lock,
            self.variant,
            self.plan.code,
            base_image=base,
            heavy_bytes=self.heavy_bytes,
            project=self.plan.project,
            lock_text=self.plan.lock_text,
        )
        return replace(self, plan=again)


def load_plan(
    root: Path,
    variant_name: str,
    *,
    base: str | None = None,
    heavy_bytes: int = HEAVY_BYTES,
    reporter: Reporter | None = None,
) -> BuildPlan:
    """The project's plan; a missing or stale lock is a LockError saying to run `podlock lock`,
    a code package over its limits a CodePackageTooLarge (before any of its files is read)."""
    inputs = discover(root)
    variant = inputs.config.variant(variant_name)
    status = check(inputs, [variant])[0]
    loaded = status.loaded
    if not status.ok or loaded is None:
        raise LockError(
            f"{status.state}: {status.reason}" if status.reason else status.state,
            path=str(status.path),
            hint=f"run `podlock lock --variant {variant.name}` first",
        )
    code = collect(inputs.root, inputs.config.code, name=inputs.name, reporter=reporter)
    layer_plan = plan(
        loaded,
        variant,
        code,
        base_image=base,
        heavy_bytes=heavy_bytes,
        project=inputs.name,
    )
    return BuildPlan(
        root=root,
        inputs=inputs,
        variant=variant,
        lock=loaded,
        heavy_bytes=heavy_bytes,
        plan=layer_plan,
    )


def default_platform(layer_plan: LayerPlan, engine_arch: str | None = None) -> str:
    wanted = f"linux/{engine_arch}" if engine_arch else "linux/amd64"
    if wanted in layer_plan.platforms:
        return wanted
    linux = [p for p in layer_plan.platforms if p.startswith("linux/")]
    if not linux:
        raise PodlockError(
            f"{layer_plan.lock_name} has no linux platform; images need one",
            hint=f"add linux/amd64 to [variants.{layer_plan.variant}] platforms",
        )
    return linux[0]
