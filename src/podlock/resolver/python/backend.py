"""The pure-Python backend: resolvelib + packaging, no binary involved.

Each variant is one universal resolution: a single pin per package, valid on all of the
variant's platforms (markers hold when they hold on any platform). The graph is then
walked once per platform to find where each pin is needed; a pin without a wheel (or
sdist) for a platform that needs it is excluded and the variant resolved again.
Variants resolve side by side and share pages, metadata and connections (the index's
data, nothing that one variant decided): each prefers only its own lock's pins.

A run starts by fetching, all at once, the pages that the last run of the same project
and indexes consulted, with that run's metadata in memory (``consulted``): pages have no
validators behind some proxies, so each must be downloaded again to be known fresh, and
one dependency level at a time that took seconds. Pages the resolution needs beyond
those are fetched as it asks for them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver
from resolvelib.structs import RequirementInformation

from podlock.errors import ResolutionError
from podlock.inputs.indexes import Index, IndexPlan, index_plan
from podlock.inputs.runtime import VariantRequirements
from podlock.paths import cache_dir, lock_path
from podlock.platforms import Platform
from podlock.reporter import Reporter
from podlock.resolver.model import RawArtifact, Request, Resolved, ResolveOptions
from podlock.resolver.python.candidates import PYTHON, AnyCandidate, Candidate
from podlock.resolver.python.consulted import Consulted, memory_path, recall, remember
from podlock.resolver.python.factory import Factory
from podlock.resolver.python.http_cache import HttpClient
from podlock.resolver.python.metadata import MetadataStore
from podlock.resolver.python.pages import ProjectPages
from podlock.resolver.python.provider import PythonProvider
from podlock.resolver.python.requirements import AnyRequirement, RequiresPython

_WORKERS = 16
_MAX_ROUNDS = 500_000
_MAX_RETRIES = 8  # re-resolutions after excluding pins that lack wheels where needed

Cause = RequirementInformation[AnyRequirement, AnyCandidate]


class PythonBackend:
    """Resolution with resolvelib against PEP 691/503 indexes."""

    def __init__(self, workers: int = _WORKERS) -> None:
        self.workers = workers
        self.http: HttpClient | None = None  # kept across calls: the pipeline's rounds
        self.metadata: MetadataStore | None = None  # reuse pages and metadata in memory
        self._pages: ProjectPages | None = None
        self._pool: ThreadPoolExecutor | None = None

    def resolve(self, request: Request, reporter: Reporter) -> dict[str, list[Resolved]]:
        plans = {v.variant.name: index_plan(request.inputs, v.variant) for v in request.variants}
        for name, plan in plans.items():
            if plan.find_links or plan.no_index:
                raise ResolutionError(
                    f"variant {name} uses --find-links/--no-index",
                    explanation="the python resolver reads package indexes only",
                    hint='use resolver = "uv" for find-links directories',
                )
        indexes = [i for p in plans.values() for i in p.indexes]
        pages, metadata = self._shared(request, indexes)
        memory = memory_path(
            cache_dir() / "python-resolver" / "consulted",
            request.inputs.root,
            [i.url for i in indexes],
        )
        last = _warm_start(recall(memory), indexes, pages, metadata)

        def one(vreq: VariantRequirements) -> list[Resolved]:
            reporter.info(
                f"resolving {vreq.variant.name} with resolvelib (Python {vreq.variant.python})"
            )
            return _resolve_variant(
                vreq,
                plans[vreq.variant.name],
                pages=pages,
                metadata=metadata,
                preferred=_preferences(request, vreq),
                reporter=reporter,
            )

        variants = list(request.variants)
        try:
            with ThreadPoolExecutor(max_workers=max(1, len(variants))) as outer:
                results = list(outer.map(one, variants))
        finally:
            urls = {i.url for i in indexes}
            now = Consulted(
                pages=tuple(key for key in pages.consulted if key[0] in urls),
                metadata=metadata.asked(),
            )
            if now != last and not request.mode.read_only:
                remember(memory, now)
        return {v.variant.name: r for v, r in zip(variants, results, strict=True)}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _shared(
        self, request: Request, indexes: Sequence[Index]
    ) -> tuple[ProjectPages, MetadataStore]:
        """One client, pool, page and metadata memo for every call with the same mode."""
        if (
            self.http is None
            or self.http.offline != request.mode.offline
            or not self.http.knows(indexes)
        ):
            self.close()
            root = cache_dir() / "python-resolver"
            self.http = HttpClient(
                indexes=indexes, cache=root / "pages", offline=request.mode.offline
            )
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="podlock-fetch")
            self._pages = ProjectPages(self.http, self._pool, root / "parsed")
            self.metadata = MetadataStore(self.http, self._pool, root / "metadata")
        assert self._pages is not None and self.metadata is not None
        return self._pages, self.metadata


def _warm_start(
    last: Consulted, indexes: Sequence[Index], pages: ProjectPages, metadata: MetadataStore
) -> Consulted:
    """Fetch the last run's pages all at once and take its metadata into memory; from
    here on, count what this run consults."""
    pages.consulted.clear()
    metadata.forget_asked()
    metadata.preload(last.metadata)
    by_url = {i.url: i for i in indexes}
    for url, name in last.pages:
        if url in by_url:
            pages.warm(by_url[url], name)
    return last


def _resolve_variant(
    vreq: VariantRequirements,
    plan: IndexPlan,
    *,
    pages: ProjectPages,
    metadata: MetadataStore,
    preferred: Mapping[str, Version],
    reporter: Reporter,
) -> list[Resolved]:
    needs: dict[str, frozenset[Platform]] = {}
    for _ in range(_MAX_RETRIES):
        factory = Factory(
            variant=vreq.variant,
            plan=plan,
            pages=pages,
            metadata=metadata,
            constraints=vreq.constraints,
            needs=needs,
            preferred=preferred,
            reporter=reporter,
            prereleases=vreq.prereleases,
        )
        roots = factory.root_requirements(vreq.requirements)
        resolver: Resolver[AnyRequirement, AnyCandidate, str] = Resolver(
            PythonProvider(factory), BaseReporter()
        )
        try:
            result = resolver.resolve(roots, max_rounds=_MAX_ROUNDS)
        except ResolutionImpossible as exc:
            raise explain(exc.causes, factory, vreq) from None
        except ResolutionTooDeep:
            raise ResolutionError(
                f"variant {vreq.variant.name}: resolution took too many steps",
                explanation="resolvelib gave up after backtracking through too many versions",
                hint="pin the packages that move most (e.g. from an older lock) and retry",
            ) from None
        mapping = {k: v for k, v in result.mapping.items() if isinstance(v, Candidate)}
        reached, parents = walk(factory, mapping)
        retry = False
        for name, platforms in reached.items():
            lacking = platforms - mapping[name].coverage
            if lacking:
                needs[name] = needs.get(name, frozenset()) | platforms
                retry = True
        if not retry:
            python = vreq.variant.python
            return [
                replace(
                    _resolved(mapping[name], reached[name], python),
                    required_by=frozenset(parents.get(name, ())),
                )
                for name in sorted(reached)
            ]
    raise ResolutionError(
        f"variant {vreq.variant.name}: no pins with wheels on every platform that needs them",
        explanation="; ".join(sorted(factory.reasons.values())),
    )


def walk(
    factory: Factory, mapping: Mapping[str, Candidate]
) -> tuple[dict[str, frozenset[Platform]], dict[str, set[str]]]:
    """Package name -> the platforms on which the resolved graph reaches it, and package
    name -> the packages that depend on it there."""
    reached: dict[str, set[Platform]] = {}
    parents: dict[str, set[str]] = {}
    for platform in factory.platforms:
        seen: set[str] = set()
        stack = [
            (e.target, "") for e in factory.edges[("", None)] if factory.edge_holds(e, platform)
        ]
        while stack:
            ident, parent = stack.pop()
            if ident == PYTHON:
                continue
            cand = mapping[ident]
            if parent and parent != cand.name:
                parents.setdefault(cand.name, set()).add(parent)
            if ident in seen:
                continue
            seen.add(ident)
            reached.setdefault(cand.name, set()).add(platform)
            for edge in factory.edges.get((ident, cand.version), ()):
                if factory.edge_holds(edge, platform):
                    stack.append((edge.target, cand.name))
    return {name: frozenset(p) for name, p in reached.items()}, parents


def _resolved(cand: Candidate, platforms: frozenset[Platform], python: str) -> Resolved:
    """The pin with the files that install where it is needed (the lock keeps no others)."""

    def raw(d: Any) -> RawArtifact:
        link = d.link
        return RawArtifact(
            url=link.url, sha256=link.sha256, size=link.size, upload_time=link.upload_time
        )

    wheels = tuple(
        raw(d)
        for d in sorted(cand.dists, key=lambda d: d.link.filename)
        if d.tags and any(not d.tags.isdisjoint(p.accepts(python)) for p in platforms)
    )
    sdists = sorted(
        (d for d in cand.dists if d.tags is None),
        key=lambda d: (not d.link.filename.endswith(".tar.gz"), d.link.filename),
    )
    return Resolved(
        name=cand.name,
        version=str(cand.version),
        platforms=platforms,
        index=cand.index.url if cand.index else None,
        wheels=wheels,
        sdist=raw(sdists[0]) if sdists else None,
    )


def explain(
    causes: Collection[Cause], factory: Factory, vreq: VariantRequirements
) -> ResolutionError:
    """resolvelib's causes in plain words: who needs what, and why nothing fits."""
    lines: list[str] = []
    idents: list[str] = []
    for cause in causes:
        req = cause.requirement
        who = f"{cause.parent}" if cause.parent is not None else "your requirements"
        if isinstance(req, RequiresPython):
            lines.append(
                f"{who} requires {req}, but variant {vreq.variant.name} uses Python "
                f"{vreq.variant.python}"
            )
        else:
            lines.append(f"{who} requires {req}")
        idents.append(req.identifier.split("[", 1)[0])
        if cause.parent is not None:
            idents.append(cause.parent.name)
    reasons = [factory.reasons[n] for n in dict.fromkeys(idents) if n in factory.reasons]
    for name in dict.fromkeys(idents):
        notes = factory.notes.get(name, {})
        reasons += [f"{name} {v}: {why}" for v, why in sorted(notes.items(), reverse=True)[:4]]
    for name in dict.fromkeys(idents):
        if name in factory.reasons or name == PYTHON:
            continue
        versions = [str(c.version) for c in factory.candidates(canonicalize_name(name))]
        shown = ", ".join(versions[:8]) + (" ..." if len(versions) > 8 else "")
        lines.append(f"available versions of {name}: {shown or 'none'}")
    text = "\n".join(f"  {line}" for line in dict.fromkeys([*lines, *reasons]))
    platforms = ", ".join(str(p) for p in vreq.variant.platforms)
    header = f"variant {vreq.variant.name} (Python {vreq.variant.python}; {platforms}):"
    if any("no wheel" in r for r in reasons):
        return ResolutionError(
            "a package has no wheel for one of the variant's platforms",
            explanation=f"{header}\n{text}",
            hint="pin a version that ships wheels for that platform, or remove the platform "
            "from the variant's platforms in the podlock config",
        )
    if any(r.startswith("no index has") for r in reasons):
        return ResolutionError(
            "a package is on none of the variant's indexes",
            explanation=f"{header}\n{text}",
            hint="check the package name, or route it to the index that has it (sources)",
        )
    return ResolutionError(
        "no set of versions satisfies the requirements",
        explanation=f"{header}\n{text}",
        hint="loosen one of the pins named above, or use `# kn:keep` only where needed",
    )


def _preferences(request: Request, vreq: VariantRequirements) -> dict[str, Version]:
    """Pins of the variant's existing lock: kept unless asked to move (as uv does)."""
    mode: ResolveOptions = request.mode
    if mode.upgrade:
        return {}
    try:
        data = tomllib.loads(lock_path(request.inputs.root, vreq.variant.name).read_text())
    except (OSError, ValueError):
        return {}
    moving = {canonicalize_name(n) for n in mode.upgrade_packages}
    out: dict[str, Version] = {}
    for pkg in data.get("packages", []):
        name = canonicalize_name(str(pkg.get("name", "")))
        if name in moving or "version" not in pkg:
            continue
        try:
            out[name] = Version(str(pkg["version"]))
        except InvalidVersion:
            continue
    return out
