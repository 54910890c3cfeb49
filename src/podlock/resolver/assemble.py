"""From pins to a Lock: keep only the variant's platforms' wheels, write markers, check
coverage and the user's ``--hash`` pins, tag the runtime layer."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from podlock.errors import HashMismatch, PodlockError
from podlock.inputs.discover import Inputs
from podlock.inputs.runtime import VariantRequirements, in_runtime_layer
from podlock.lock.fingerprint import fingerprint_of
from podlock.lock.pylock import Artifact, Lock, LockedPackage, LockMeta
from podlock.platforms import Platform
from podlock.resolver.model import RawArtifact, Resolved
from podlock.urls import strip_credentials


def keep_usable(vreq: VariantRequirements, resolved: Sequence[Resolved]) -> list[Resolved]:
    """Only the wheels the variant's platforms can use, only the files ``--hash`` allows.

    Raises when a package is left with nothing installable on a platform that needs it.
    """
    variant = vreq.variant
    pins = _hash_pins(vreq)
    out: list[Resolved] = []
    for r in resolved:
        wheels = tuple(w for w in r.wheels if _fits(w, r.platforms, variant.python))
        sdist, archive = r.sdist, r.archive
        allowed = pins.get(r.name)
        if allowed is not None:
            wheels, sdist, archive = _pinned(r, wheels, allowed, variant.name)
        _check_coverage(r, wheels, sdist, archive, variant.name, variant.python)
        out.append(
            replace(r, wheels=tuple(sorted(wheels, key=_name)), sdist=sdist, archive=archive)
        )
    return out


def artifacts(resolved: Sequence[Resolved]) -> list[RawArtifact]:
    return [a for r in resolved for a in (*r.wheels, r.sdist, r.archive) if a is not None]


def assemble(
    inputs: Inputs,
    vreq: VariantRequirements,
    pruned: Sequence[Resolved],
    *,
    sizes: Mapping[str, int],
    digests: Mapping[str, Any],
    indexes: Sequence[str],
) -> Lock:
    """The variant's Lock from pruned pins; pure."""
    variant = vreq.variant
    packages: list[LockedPackage] = []
    for r in pruned:
        marker = None
        if not set(variant.platforms) <= r.platforms:
            marker = " or ".join(f"({p.marker})" for p in sorted(r.platforms))
        packages.append(
            LockedPackage(
                name=r.name,
                version=r.version,
                marker=marker,
                index=strip_credentials(r.index) if r.index and "://" in r.index else r.index,
                wheels=tuple(_artifact(w, sizes, inputs.root) for w in r.wheels),
                sdist=_artifact(r.sdist, sizes, inputs.root) if r.sdist else None,
                archive=_artifact(r.archive, sizes, inputs.root) if r.archive else None,
                vcs=r.vcs,
                layer="runtime" if in_runtime_layer(r.name) else None,
                extras={str(p): tuple(sorted(e)) for p, e in r.extras if p in r.platforms},
            )
        )
    packages.sort(key=lambda p: (p.name, p.version or "", p.marker or ""))
    meta = LockMeta(
        variant=variant.name,
        accelerator=variant.accelerator,
        python=variant.python,
        platforms=tuple(str(p) for p in variant.platforms),
        fingerprint=fingerprint_of(digests),
        source=inputs.of(variant.name).source,
        inputs=digests,
        runtime=variant.runtime if vreq.with_runtime else (),
        runtime_packages=tuple(p.name for p in packages if p.layer == "runtime"),
        stripped=tuple(
            {"file": s.origin.file, "line": s.origin.line, "text": s.text} for s in vreq.stripped
        ),
        kept=tuple(
            {"file": k.origin.file, "line": k.origin.line, "text": k.text} for k in vreq.kept
        ),
        indexes=tuple(indexes),
        system_packages=tuple(
            dict.fromkeys((*inputs.config.system_packages, *variant.system_packages))
        ),
        base_image=variant.base_image,
    )
    return Lock(
        meta=meta,
        packages=tuple(packages),
        requires_python=f"=={variant.python}.*",
        environments=tuple(p.marker for p in variant.platforms),
    )


def _name(a: RawArtifact) -> str:
    return a.filename


def _fits(wheel: RawArtifact, platforms: frozenset[Platform], python: str) -> bool:
    try:
        _, _, _, tags = parse_wheel_filename(wheel.filename)
    except InvalidWheelFilename:
        return False
    return any(not tags.isdisjoint(p.accepts(python)) for p in platforms)


def _check_coverage(
    r: Resolved,
    wheels: Sequence[RawArtifact],
    sdist: RawArtifact | None,
    archive: RawArtifact | None,
    variant: str,
    python: str,
) -> None:
    if sdist is not None or archive is not None or r.vcs is not None:
        return
    for platform in sorted(r.platforms):
        if not any(_fits(w, frozenset({platform}), python) for w in wheels):
            raise PodlockError(
                f"{r.name} {r.version} has no wheel for {platform} (CPython {python}) "
                f"and no sdist (variant {variant})",
                hint=f"pin a version of {r.name} that ships one, or remove {platform} from "
                f"[variants.{variant}] platforms",
            )


def _hash_pins(vreq: VariantRequirements) -> dict[str, tuple[set[str], str]]:
    """``--hash`` pins of the lines in effect (stripped runtime lines pin nothing), with the
    first line that pins each package."""
    pins: dict[str, tuple[set[str], str]] = {}
    for line in vreq.lines:
        if line.hashes:
            digests = {h.split(":", 1)[1] for h in line.hashes if h.startswith("sha256:")}
            pins.setdefault(line.name, (set(), str(line.origin)))[0].update(digests)
    return pins


def _pinned(
    r: Resolved, wheels: tuple[RawArtifact, ...], pin: tuple[set[str], str], variant: str
) -> tuple[tuple[RawArtifact, ...], RawArtifact | None, RawArtifact | None]:
    allowed, origin = pin
    kept = tuple(w for w in wheels if w.sha256 in allowed)
    sdist = r.sdist if r.sdist is not None and r.sdist.sha256 in allowed else None
    archive = r.archive if r.archive is not None and r.archive.sha256 in allowed else None
    if not kept and sdist is None and archive is None:
        got = sorted(
            f"sha256:{a.sha256}"
            for a in (*wheels, r.sdist, r.archive)
            if a is not None and a.sha256
        )
        url = r.index or (r.archive.url if r.archive else None) or "the index"
        raise HashMismatch(
            package=f"{r.name} {r.version}",
            url=url,
            expected=[f"sha256:{h}" for h in sorted(allowed)],
            got=got,
            hint=f"{origin} pins files that {url} does not serve. Hashes made against "
            f"another index (PyPI's CUDA torch, where variant {variant} takes torch from the "
            f"PyTorch CPU index) must be regenerated against {url}, or {r.name} routed to "
            f"their index in [variant.{variant}] sources; else the file changed on the index",
        )
    return kept, sdist, archive


def _artifact(a: RawArtifact, sizes: Mapping[str, int], root: Path) -> Artifact:
    if a.sha256 is None:
        raise PodlockError(
            f"{a.filename}: the index gave no sha256",
            hint="use an index that publishes hashes (PEP 503 #sha256= or PEP 691)",
        )
    size = a.size if a.size is not None else sizes.get(a.sha256)
    if size is None:
        raise PodlockError(f"{a.filename}: size unknown")
    path = a.path
    if path is not None:
        with contextlib.suppress(ValueError):
            path = Path(path).relative_to(root).as_posix()
    return Artifact(
        url=strip_credentials(a.url) if a.url else None,
        path=path,
        size=size,
        sha256=a.sha256,
        upload_time=a.upload_time,
    )
