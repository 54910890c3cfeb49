"""``podlock lock``: discover → strip → resolve (each variant on its own) → keep usable → write.

Nothing is written until every variant has resolved; each lock is then replaced
atomically, and only when its bytes change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.requirements import Requirement

from podlock.atomic import write_atomic
from podlock.errors import InputError, PodlockError, ResolutionError
from podlock.inputs.config import RUNTIME_PACKAGES, VariantConfig
from podlock.inputs.discover import Inputs
from podlock.inputs.indexes import index_plan
from podlock.inputs.pyproject import PYPROJECT
from podlock.inputs.runtime import VariantRequirements, variant_requirements
from podlock.lock.fingerprint import input_digests
from podlock.lock.pylock import LoadedLock, Lock
from podlock.lock.status import check
from podlock.lock.system import SystemLock
from podlock.paths import lock_path
from podlock.reporter import NullReporter, Reporter
from podlock.resolver.assemble import artifacts, assemble, keep_usable
from podlock.resolver.completeness import Gap, completeness, read_metadata, wheels_to_read
from podlock.resolver.cuda_wheels import cuda_warnings
from podlock.resolver.model import Backend, Request, Resolved, ResolveOptions
from podlock.resolver.sizes import SizeCache, fill_sizes
from podlock.urls import redact

_MAX_ROUNDS = 6  # runtime, routes and completeness each add at most a round or two


@dataclass(frozen=True, kw_only=True)
class LockResult:
    variant: str
    path: Path
    lock: Lock | None  # None when the existing lock was up to date and kept
    written: bool


def lock(
    inputs: Inputs,
    variants: Sequence[VariantConfig],
    *,
    backend: Backend,
    mode: ResolveOptions | None = None,
    reporter: Reporter | None = None,
) -> list[LockResult]:
    """Write up-to-date locks for ``variants``; a no-op (no network) when all are current."""
    reporter = reporter or NullReporter()
    mode = mode or ResolveOptions()
    for note in inputs.notes:
        reporter.warn(note)
    statuses = check(inputs, variants)
    if all(s.ok for s in statuses) and not (mode.upgrade or mode.upgrade_packages):
        return [
            LockResult(variant=s.variant, path=s.path, lock=None, written=False) for s in statuses
        ]
    for s in statuses:
        if s.state == "corrupt":
            reporter.warn(f"{s.path.name} is corrupt ({s.reason}); regenerating it")
    locks = resolve_locks(inputs, variants, backend=backend, mode=mode, reporter=reporter)
    previous = {s.variant: s.loaded for s in statuses}
    locks = [_with_system(lk, previous.get(lk.meta.variant), mode, reporter) for lk in locks]
    texts = [(lock_path(inputs.root, lk.meta.variant), lk, lk.to_toml()) for lk in locks]
    return [
        LockResult(variant=lk.meta.variant, path=path, lock=lk, written=write_atomic(path, text))
        for path, lk, text in texts
    ]


def resolve_locks(
    inputs: Inputs,
    variants: Sequence[VariantConfig],
    *,
    backend: Backend,
    mode: ResolveOptions,
    reporter: Reporter,
) -> list[Lock]:
    """Resolve ``variants`` into locks without writing them (what ``lock`` would write).

    Cost: a full resolution, with network unless ``mode.offline``.
    """
    for variant in variants:
        deps = inputs.of(variant.name)
        if deps.missing_vars:
            raise InputError(
                f"${{{deps.missing_vars[0]}}} is used in {deps.source} but not set",
                file=deps.source,
                hint=f"export {deps.missing_vars[0]}=... before running podlock",
            )
    _check_upgrade_names(mode)
    vreqs = [variant_requirements(inputs, v) for v in variants]
    _report_stripped(vreqs, reporter)
    pruned = _resolve_to_fixpoint(inputs, vreqs, backend, mode, reporter)
    for vreq in vreqs:
        for warning in _unfit_url_warnings(vreq, pruned[vreq.variant.name]):
            reporter.warn(warning)
        for warning in cuda_warnings(vreq.variant, pruned[vreq.variant.name], inputs.config):
            reporter.warn(warning)
    plans = {v.variant.name: index_plan(inputs, v.variant) for v in vreqs}
    sizes = fill_sizes(
        [a for p in pruned.values() for a in artifacts(p)],
        cache=SizeCache(),
        indexes=[i for plan in plans.values() for i in plan.indexes],
        offline=mode.offline,
    )
    locks = []
    for vreq in vreqs:
        name = vreq.variant.name
        used = {r.index for r in pruned[name] if r.index}
        names = [i.url for i in plans[name].indexes if i.url in used]
        locks.append(
            assemble(
                inputs,
                vreq,
                pruned[name],
                sizes=sizes,
                digests=input_digests(inputs, vreq.variant),
                indexes=names or sorted(used),
            )
        )
    return locks


def _with_system(
    lk: Lock, previous: LoadedLock | None, mode: ResolveOptions, reporter: Reporter
) -> Lock:
    """``lk`` with its system packages locked (as .debs) against its base image."""
    meta = lk.meta
    if not meta.system_packages:
        return lk
    # Here, not at the top: reading base images needs compiled extensions (zstandard) that
    # `lock --check` under another interpreter must not import.
    from podlock.system.locking import lock_system

    before = None
    if previous is not None and previous.meta.system:
        with contextlib.suppress(PodlockError):
            before = SystemLock.from_dict(previous.meta.system)
    system = lock_system(
        meta.system_packages,
        base_image=meta.base_image,
        platforms=meta.platforms,
        variant=meta.variant,
        previous=before,
        upgrade=mode.upgrade,
        reporter=reporter,
    )
    return replace(lk, meta=replace(meta, system=system.to_dict()))


@dataclass(kw_only=True)
class _Added:
    """What resolution rounds add to one variant's requirements."""

    routed: set[str] = field(default_factory=set)  # names routed to an index, made direct
    required: dict[str, Gap] = field(default_factory=dict)  # a gap's fix -> the gap


def _resolve_to_fixpoint(
    inputs: Inputs,
    vreqs: list[VariantRequirements],
    backend: Backend,
    mode: ResolveOptions,
    reporter: Reporter,
) -> dict[str, list[Resolved]]:
    """Pins per variant, pruned to what its platforms use (``keep_usable``).

    Resolves again, with what is missing added, when jax arrived indirectly (e.g. via flax:
    the runtime is added), a routed package (torch via torchvision) isn't direct, or a kept
    wheel requires what the lock lacks (completeness.py).
    """
    added = {v.variant.name: _Added() for v in vreqs}
    for _ in range(_MAX_ROUNDS):
        try:
            resolved = backend.resolve(Request(inputs=inputs, variants=vreqs, mode=mode), reporter)
        except ResolutionError as exc:
            gaps = [g for a in added.values() for g in a.required.values()]
            if not gaps:
                raise
            raise _cannot_complete(gaps, exc.explanation) from None
        if _add_runtime_and_routes(inputs, vreqs, resolved, added):
            continue
        pruned = {v.variant.name: keep_usable(v, resolved[v.variant.name]) for v in vreqs}
        if not _add_gaps(inputs, vreqs, pruned, added, mode, reporter):
            return pruned
    raise PodlockError("resolution did not settle after adding the runtime; please report this")


def _add_runtime_and_routes(
    inputs: Inputs,
    vreqs: list[VariantRequirements],
    resolved: dict[str, list[Resolved]],
    added: dict[str, _Added],
) -> bool:
    """Add the runtime where jax is in the environment, and routed packages as direct ones;
    whether any variant changed."""
    again = False
    for i, vreq in enumerate(vreqs):
        name = vreq.variant.name
        names = {r.name for r in resolved[name]}
        force = vreq.with_runtime or bool(names & RUNTIME_PACKAGES)
        routed = {n for n in vreq.variant.sources if n in names and n not in vreq.direct}
        if force != vreq.with_runtime or routed:
            added[name].routed |= routed
            vreqs[i] = _rebuilt(inputs, vreq, added[name], force_runtime=force)
            again = True
    return again


def _add_gaps(
    inputs: Inputs,
    vreqs: list[VariantRequirements],
    pruned: dict[str, list[Resolved]],
    added: dict[str, _Added],
    mode: ResolveOptions,
    reporter: Reporter,
) -> bool:
    """Add what kept wheels require and the lock lacks; whether any variant changed.

    Raises when a gap remains that an earlier round added: resolving again cannot close it.
    Cost: nothing on the network for wheels whose metadata was read before (by sha256).
    """
    indexes = {i.url: i for v in vreqs for i in index_plan(inputs, v.variant).indexes}
    wheels = [w for p in pruned.values() for w in wheels_to_read(p)]
    metadata = read_metadata(wheels, indexes=list(indexes.values()), offline=mode.offline)
    again = False
    for i, vreq in enumerate(vreqs):
        name = vreq.variant.name
        result = completeness(vreq, pruned[name], metadata)
        gaps = result.gaps
        pruned[name] = [
            replace(r, extras=tuple(sorted(result.extras.get(r.name, {}).items())))
            for r in pruned[name]
        ]
        stuck = [g for g in gaps if g.restricted() in added[name].required]
        if stuck:
            raise _cannot_complete(stuck, "the resolver was given it and still left it out")
        for gap in gaps:
            reporter.info(f"{name}: {gap}, which the lock lacks; resolving again with it")
            added[name].required[gap.restricted()] = gap
        if gaps:
            vreqs[i] = _rebuilt(inputs, vreq, added[name], force_runtime=vreq.with_runtime)
            again = True
    return again


def _rebuilt(
    inputs: Inputs, vreq: VariantRequirements, added: _Added, *, force_runtime: bool
) -> VariantRequirements:
    return variant_requirements(
        inputs,
        vreq.variant,
        force_runtime=force_runtime,
        also_direct=sorted(added.routed),
        also_required=sorted(added.required),
    )


def _cannot_complete(gaps: Sequence[Gap], why: str) -> PodlockError:
    """A lock that cannot hold what its wheels require: name each wheel and requirement."""
    lines = "\n".join(f"  {g}" for g in gaps)
    packages = ", ".join(dict.fromkeys(g.package.split(" ", 1)[0] for g in gaps))
    return PodlockError(
        f"the lock cannot hold what its wheels require (wheels of one version may declare "
        f"different dependencies):\n{lines}\n{why}".rstrip(),
        hint=f"pin another version of {packages} whose wheels need what your requirements "
        "allow, add the requirement above to your requirements with the version you want, "
        "or remove the platform from the variant's platforms",
    )


def _report_stripped(vreqs: Sequence[VariantRequirements], reporter: Reporter) -> None:
    """One warning per stripped line, naming what replaces it in each variant."""
    by_line: dict[tuple[str, str, bool], list[str]] = {}
    for vreq in vreqs:
        for line in vreq.stripped:
            if str(line.requirement) in vreq.variant.runtime:
                continue  # ``jax[tpu]`` in a tpu variant: replaced by itself, nothing to say
            runtime = " + ".join(vreq.variant.runtime)
            key = (f"{line.origin}: {line.text!r}", line.name, line.origin.file == PYPROJECT)
            by_line.setdefault(key, []).append(f"{vreq.variant.name}: {runtime}")
    for (where, name, pyproject), uses in by_line.items():
        keep = "Append `# kn:keep` to the line to keep it"
        if pyproject:
            keep += f' (after the closing quote), or add keep = ["{name}"] to the podlock config'
        reporter.warn(
            f"{where} stripped; the variant's runtime is used instead ({'; '.join(uses)}). {keep}."
        )


def _unfit_url_warnings(vreq: VariantRequirements, resolved: Sequence[Resolved]) -> list[str]:
    """One warning per ``name @ url`` line whose wheel can't run on (some of) the variant's
    platforms, naming what the variant's routing locked there instead."""
    variant = vreq.variant
    out = []
    for line, fit in vreq.unfit_urls:
        used = next((r for r in resolved if r.name == line.name and r.index), None)
        instead = f"{used.name} {used.version}" if used else line.name
        if used is not None and used.index:
            instead += f" from {redact(used.index)}"
        rest = [str(p) for p in variant.platforms if p not in fit.platforms]
        where = f"for {', '.join(rest)}, " if fit.platforms else ""
        out.append(
            f"{line.origin}: {line.text!r} is {fit.reason}; {where}pylock.{variant.name}.toml "
            f"has {instead} instead (the variant's route for {line.name}). To pin that URL "
            "there, put the line in the requirements file of a variant whose hosts run it."
        )
    return out


def _check_upgrade_names(mode: ResolveOptions) -> None:
    for name in mode.upgrade_packages:
        try:
            Requirement(name)
        except ValueError:
            raise InputError(f"--upgrade-package {name!r} is not a package name") from None
