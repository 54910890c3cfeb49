"""Runtime stripping, Kinetic's ``# kn:keep`` semantics, done at resolve time.

A user line naming a runtime package (jax, jaxlib, libtpu, libtpu-nightly) is replaced by
the variant's runtime requirement, unless it ends in ``# kn:keep`` (or config ``keep``
names it): then it stays as written and constrains the runtime.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cached_property

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from podlock.inputs.config import RUNTIME_PACKAGES, VariantConfig
from podlock.inputs.discover import Inputs
from podlock.inputs.requirements import RequirementLine

# Packages that belong in the runtime layer whatever pulled them in.
_RUNTIME_FAMILY_PREFIXES = ("nvidia-", "jax-cuda", "libtpu")
_RUNTIME_FAMILY = frozenset({"jax", "jaxlib", "torch", "torchvision", "torchaudio", "triton"})


@dataclass(frozen=True, kw_only=True)
class VariantRequirements:
    """What one variant asks the resolver for."""

    variant: VariantConfig
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    lines: tuple[RequirementLine, ...]  # the user's lines in effect (requirements, constraints)
    stripped: tuple[RequirementLine, ...]
    kept: tuple[RequirementLine, ...]
    with_runtime: bool
    prereleases: frozenset[str] = frozenset()  # packages whose line says ``--pre``

    @cached_property
    def direct(self) -> frozenset[str]:
        """Canonical names of the packages asked for directly (runtime and routed included)."""
        return _names(self.requirements)


def is_runtime_name(name: str) -> bool:
    return canonicalize_name(name) in RUNTIME_PACKAGES


def in_runtime_layer(name: str) -> bool:
    """Packages that must match the hardware, and so share a layer across projects."""
    norm = canonicalize_name(name)
    return norm in _RUNTIME_FAMILY or norm.startswith(_RUNTIME_FAMILY_PREFIXES)


def variant_requirements(
    inputs: Inputs,
    variant: VariantConfig,
    *,
    force_runtime: bool = False,
    also_direct: Collection[str] = (),
    also_required: Collection[str] = (),
) -> VariantRequirements:
    """Apply stripping and add the runtime; ``also_direct`` names become direct requirements,
    ``also_required`` requirements (with their markers) are added as written.

    ``force_runtime`` is set when a first resolution showed jax in the environment although
    no line named it (e.g. through flax): the runtime must then be the hardware-matched one.
    """
    deps = inputs.of(variant.name)
    keep_names = inputs.config.keep
    stripped: list[RequirementLine] = []
    kept: list[RequirementLine] = []
    lines: list[RequirementLine] = []
    for line in (*deps.requirements, *deps.constraints):
        if is_runtime_name(line.name):
            if not (line.keep or line.name in keep_names):
                stripped.append(line)
                continue
            kept.append(line)
        lines.append(line)
    reqs = [str(line.requirement) for line in lines if not line.constraint]
    constraints = [str(line.requirement) for line in lines if line.constraint]
    # ``--pre`` on a line; a stripped ``jax --pre`` allows them for what replaces it too.
    prereleases = frozenset(line.name for line in (*lines, *stripped) if line.pre)
    with_runtime = force_runtime or bool(stripped) or bool(kept)
    if with_runtime:
        reqs.extend(variant.runtime)
    direct = _names(reqs)
    reqs.extend(sorted(n for n in also_direct if canonicalize_name(n) not in direct))
    reqs.extend(sorted(set(also_required)))
    return VariantRequirements(
        variant=variant,
        requirements=tuple(reqs),
        constraints=tuple(constraints),
        lines=tuple(lines),
        stripped=tuple(stripped),
        kept=tuple(kept),
        with_runtime=with_runtime,
        prereleases=prereleases,
    )


def _names(requirements: Iterable[str]) -> frozenset[str]:
    return frozenset(canonicalize_name(Requirement(r).name) for r in requirements)
