"""Runtime stripping, Kinetic's ``# kn:keep`` semantics, done at resolve time.

A user line naming a runtime package (jax, jaxlib, libtpu, libtpu-nightly) is replaced by
the variant's runtime requirement, unless it ends in ``# kn:keep`` (or config ``keep``
names it): then it stays exactly as written. A kept line with extras (``jax[cpu]``) chose
the flavour itself, so the runtime's requirements on that package are left out; a kept
line without extras (``jax==0.6.2``) pins the version of the runtime's flavour.

Beside it, a variant's routing meets the user's direct URLs here (see direct.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from podlock.inputs.config import RUNTIME_PACKAGES, VariantConfig
from podlock.inputs.direct import UrlFit, restricted, url_fit, without_url
from podlock.inputs.discover import Inputs
from podlock.inputs.requirements import RequirementLine
from podlock.platforms import Platform

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
    # Routed packages a kept ``name @ url`` pins -> the platforms still routed (none: all
    # are the URL's); and the URL lines replaced by the route (where ``UrlFit`` says).
    direct_urls: Mapping[str, tuple[Platform, ...]] = field(default_factory=dict)
    unfit_urls: tuple[tuple[RequirementLine, UrlFit], ...] = ()

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
    direct_urls: dict[str, tuple[Platform, ...]] = {}
    unfit: list[tuple[RequirementLine, UrlFit]] = []
    for line in (*deps.requirements, *deps.constraints):
        if is_runtime_name(line.name):
            if not (line.keep or line.name in keep_names):
                stripped.append(line)
                continue
            kept.append(line)
        elif line.requirement.url and line.name in variant.sources:
            lines += _routed_url(line, variant, direct_urls, unfit)
            continue
        lines.append(line)
    reqs = [str(line.requirement) for line in lines if not line.constraint]
    constraints = [str(line.requirement) for line in lines if line.constraint]
    # ``--pre`` on a line; a stripped ``jax --pre`` allows them for what replaces it too.
    prereleases = frozenset(line.name for line in (*lines, *stripped) if line.pre)
    with_runtime = force_runtime or bool(stripped) or bool(kept)
    if with_runtime:
        reqs.extend(_runtime_beside(variant.runtime, kept))
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
        direct_urls=direct_urls,
        unfit_urls=tuple(unfit),
    )


def _routed_url(
    line: RequirementLine,
    variant: VariantConfig,
    direct_urls: dict[str, tuple[Platform, ...]],
    unfit: list[tuple[RequirementLine, UrlFit]],
) -> list[RequirementLine]:
    """A ``name @ url`` line of a routed package: the URL where its wheel runs, the route
    (the name alone) elsewhere; notes both in ``direct_urls`` and ``unfit``."""
    fit = url_fit(line.requirement, variant)
    rest = tuple(p for p in variant.platforms if p not in fit.platforms)
    plain = replace(line, requirement=without_url(line.requirement), hashes=())
    if not fit.platforms:
        unfit.append((line, fit))
        return [plain]
    direct_urls[line.name] = rest
    if not rest:
        return [line]
    unfit.append((line, fit))
    return [
        replace(line, requirement=restricted(line.requirement, fit.platforms)),
        replace(plain, requirement=restricted(plain.requirement, rest)),
    ]


def _runtime_beside(runtime: Iterable[str], kept: Sequence[RequirementLine]) -> list[str]:
    """The runtime requirements, less those on a package a kept line names with extras:
    ``jax[cpu]  # kn:keep`` in a cuda variant must not become ``jax[cpu,cuda12]``."""
    flavoured = {line.name for line in kept if line.requirement.extras}
    return [r for r in runtime if canonicalize_name(Requirement(r).name) not in flavoured]


def _names(requirements: Iterable[str]) -> frozenset[str]:
    return frozenset(canonicalize_name(Requirement(r).name) for r in requirements)
