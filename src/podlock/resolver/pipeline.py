"""``podlock lock``: discover → strip → resolve (each variant on its own) → keep usable → write.

Nothing is written until every variant has resolved; each lock is then replaced
atomically, and only when its bytes change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.requirements import Requirement

from podlock.errors import InputError, PodlockError
from podlock.inputs.config import RUNTIME_PACKAGES, VariantConfig
from podlock.inputs.discover import Inputs
from podlock.inputs.indexes import index_plan
from podlock.inputs.pyproject import PYPROJECT
from podlock.inputs.runtime import VariantRequirements, variant_requirements
from podlock.lock.fingerprint import input_digests
from podlock.lock.pylock import LoadedLock, Lock, write_atomic
from podlock.lock.status import check
from podlock.lock.system import SystemLock
from podlock.paths import lock_path
from podlock.reporter import NullReporter, Reporter
from podlock.resolver.assemble import artifacts, assemble, keep_usable
from podlock.resolver.cuda_wheels import cuda_warnings
from podlock.resolver.model import Backend, Request, Resolved, ResolveOptions
from podlock.resolver.sizes import SizeCache, fill_sizes

_MAX_ROUNDS = 3


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
    resolved = _resolve_to_fixpoint(inputs, vreqs, backend, mode, reporter)
    pruned = {v.variant.name: keep_usable(v, resolved[v.variant.name]) for v in vreqs}
    for vreq in vreqs:
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


def _resolve_to_fixpoint(
    inputs: Inputs,
    vreqs: list[VariantRequirements],
    backend: Backend,
    mode: ResolveOptions,
    reporter: Reporter,
) -> dict[str, list[Resolved]]:
    """Resolve; when jax arrived indirectly (e.g. via flax) or a routed package (torch via
    torchvision) isn't direct, add the runtime / the package and resolve again."""
    added: dict[str, set[str]] = {v.variant.name: set() for v in vreqs}
    for _ in range(_MAX_ROUNDS):
        resolved = backend.resolve(Request(inputs=inputs, variants=vreqs, mode=mode), reporter)
        again = False
        for i, vreq in enumerate(vreqs):
            name = vreq.variant.name
            names = {r.name for r in resolved[name]}
            force = vreq.with_runtime or bool(names & RUNTIME_PACKAGES)
            routed = {n for n in vreq.variant.sources if n in names and n not in vreq.direct}
            if force != vreq.with_runtime or routed:
                added[name] |= routed
                vreqs[i] = variant_requirements(
                    inputs, vreq.variant, force_runtime=force, also_direct=sorted(added[name])
                )
                again = True
        if not again:
            return resolved
    raise PodlockError("resolution did not settle after adding the runtime; please report this")


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


def _check_upgrade_names(mode: ResolveOptions) -> None:
    for name in mode.upgrade_packages:
        try:
            Requirement(name)
        except ValueError:
            raise InputError(f"--upgrade-package {name!r} is not a package name") from None
