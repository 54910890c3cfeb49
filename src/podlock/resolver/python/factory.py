"""The factory: index access for one variant's resolution.

It turns project pages into candidates (index routing and priority, Requires-Python,
yanked files, pre-releases, wheels for the variant's platforms) and metadata into
requirements (markers evaluated on every platform of the variant: a dependency counts
when its marker holds on any of them). Pages and metadata are fetched ahead in the pool.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from podlock.errors import PodlockError, ResolutionError
from podlock.inputs.config import VariantConfig
from podlock.inputs.indexes import Index, IndexPlan
from podlock.platforms import Platform
from podlock.reporter import Reporter
from podlock.resolver.python.candidates import PYTHON, AnyCandidate, Candidate, PythonCandidate
from podlock.resolver.python.metadata import MetadataStore
from podlock.resolver.python.pages import ProjectPages
from podlock.resolver.python.requirements import (
    AnyRequirement,
    ExplicitRequirement,
    RequiresPython,
    SpecifierRequirement,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Edge:
    """A dependency as declared, for the per-platform walk after resolution."""

    target: str  # identifier
    marker: Marker | None
    extras: tuple[str, ...]  # the ``extra`` values the marker is evaluated with


class Factory:
    """Candidates and requirements for one variant; shares pages and metadata."""

    def __init__(
        self,
        *,
        variant: VariantConfig,
        plan: IndexPlan,
        pages: ProjectPages,
        metadata: MetadataStore,
        constraints: Sequence[str],
        needs: dict[str, frozenset[Platform]],
        preferred: Mapping[str, Version],
        reporter: Reporter,
        prereleases: frozenset[str] = frozenset(),
    ) -> None:
        self.variant = variant
        self.prereleases = prereleases
        self.plan = plan
        self.pages = pages
        self.metadata = metadata
        self.needs = needs
        self.preferred = preferred
        self.reporter = reporter
        self.python = PythonCandidate(version=Version(f"{variant.python}.0"))
        self.platforms = tuple(variant.platforms)
        self._envs = {
            p: {k: str(v) for k, v in p.environment(variant.python).items()} for p in self.platforms
        }
        self.constraints: dict[str, list[SpecifierSet]] = {}
        for text in constraints:
            req = Requirement(text)
            if req.marker is None or self.holds(req.marker, ("",)):
                self.constraints.setdefault(canonicalize_name(req.name), []).append(req.specifier)
        self.edges: dict[tuple[str, Version | None], list[Edge]] = {}
        self.reasons: dict[str, str] = {}  # name -> why it has no candidates
        self.notes: dict[str, dict[Version, str]] = {}  # name -> versions left out, why
        self._candidates: dict[str, list[Candidate]] = {}
        self._applies_memo: dict[tuple[str, tuple[str, ...]], bool] = {}
        self._lock = threading.Lock()

    # -- markers ----------------------------------------------------------

    def holds(self, marker: Marker, extras: Iterable[str]) -> frozenset[Platform]:
        """The variant's platforms on which ``marker`` is true for one of ``extras``."""
        out = set()
        for platform, env in self._envs.items():
            for extra in extras:
                if marker.evaluate({**env, "extra": extra}):
                    out.add(platform)
                    break
        return frozenset(out)

    def _applies(self, text: str, req: Requirement, extras: tuple[str, ...]) -> bool:
        """Whether a Requires-Dist line counts for a candidate with ``extras`` (("",): none);
        memoized by its text, as every version of a project repeats most of its lines."""
        key = (text, extras)
        applies = self._applies_memo.get(key)
        if applies is None:
            if req.marker is None:
                applies = extras == ("",)
            else:
                # An extras candidate adds only what the extra brings.
                applies = bool(self.holds(req.marker, extras)) and (
                    extras == ("",) or not self.holds(req.marker, ("",))
                )
            self._applies_memo[key] = applies
        return applies

    def edge_holds(self, edge: Edge, platform: Platform) -> bool:
        if edge.marker is None:
            return True
        env = self._envs[platform]
        return any(edge.marker.evaluate({**env, "extra": e}) for e in edge.extras)

    # -- requirements -----------------------------------------------------

    def root_requirements(self, texts: Sequence[str]) -> list[AnyRequirement]:
        out: list[AnyRequirement] = []
        edges: list[Edge] = []
        for text in texts:
            req = Requirement(text)
            if req.url:
                raise ResolutionError(
                    f"{req.name} @ {req.url.split('://')[0]}://... is a direct reference",
                    explanation="the python resolver locks packages from indexes only",
                    hint='use resolver = "uv" for direct references',
                )
            where = self.holds(req.marker, ("",)) if req.marker else frozenset(self.platforms)
            if not where:
                continue
            sr = SpecifierRequirement(requirement=req, parent=None)
            self.needs[sr.name] = self.needs.get(sr.name, frozenset()) | where
            out.append(sr)
            edges.append(Edge(target=sr.identifier, marker=req.marker, extras=("",)))
        self.edges[("", None)] = edges
        # Only now: a page already in memory makes its candidates at once, with the needs
        # known so far, and a name can be required more than once.
        for root in out:
            self._prefetch_page(root.name)
        return out

    def dependencies(self, candidate: AnyCandidate) -> list[AnyRequirement]:
        if isinstance(candidate, PythonCandidate):
            return []
        meta = self.metadata.get(candidate.metadata_dist())
        out: list[AnyRequirement] = []
        edges: list[Edge] = []
        extras: tuple[str, ...] = ("",)
        if candidate.extras:
            base = candidate.with_extras(frozenset())
            out.append(ExplicitRequirement(candidate=base, parent=candidate))
            edges.append(Edge(target=base.identifier, marker=None, extras=("",)))
            extras = tuple(sorted(candidate.extras))
            provided = {canonicalize_name(e) for e in meta.provides_extra}
            for extra in extras:
                if provided and extra not in provided:
                    self.reporter.warn(
                        f"{candidate.name} {candidate.version} has no extra {extra!r}"
                    )
        elif meta.requires_python:
            with contextlib.suppress(InvalidSpecifier):
                out.append(
                    RequiresPython(specifier=SpecifierSet(meta.requires_python), parent=candidate)
                )
        for text in meta.requires_dist:
            req = _requirement(text)
            if req is None:
                self.reporter.warn(f"{candidate}: ignoring invalid requirement {text!r}")
                continue
            if not self._applies(text, req, extras):
                continue
            sr = SpecifierRequirement(requirement=req, parent=candidate)
            out.append(sr)
            edges.append(Edge(target=sr.identifier, marker=req.marker, extras=extras))
            self._prefetch_page(sr.name)
        self.edges[(candidate.identifier, candidate.version)] = edges
        return out

    # -- candidates -------------------------------------------------------

    def find_matches(
        self,
        ident: str,
        requirements: Sequence[AnyRequirement],
        incompatible: Iterable[AnyCandidate],
    ) -> list[AnyCandidate]:
        if ident == PYTHON:
            ok = all(r.is_satisfied_by(self.python) for r in requirements)
            return [self.python] if ok else []
        name = canonicalize_name(ident.split("[", 1)[0])
        extras = frozenset(ident[len(name) + 1 : -1].split(",")) if "[" in ident else frozenset()
        bad = {c.version for c in incompatible if isinstance(c, Candidate)}
        pinned = any(r.pinned for r in requirements)
        allow_pre = (
            self.plan.pre
            or name in self.prereleases
            or any(r.names_prerelease for r in requirements)
        )
        constraints = self.constraints.get(name, ())
        out: list[Candidate] = []
        for cand in self.candidates(name):
            version = cand.version
            if version in bad or (cand.yanked and not pinned):
                continue
            if any(not s.contains(version, prereleases=True) for s in constraints):
                continue
            # All of ``requirements`` are for ``ident``: only their versions can differ.
            if all(r.allows(version) for r in requirements):
                out.append(cand.with_extras(extras) if extras else cand)
        if not allow_pre:
            # Pre-releases only when no final version satisfies (as uv does).
            out = [c for c in out if not c.version.is_prerelease] or out
        prefer = self.preferred.get(name)
        if prefer is not None:
            out.sort(key=lambda c: c.version != prefer)
        if out:
            self.metadata.prefetch(out[0].metadata_dist())
        return list(out)

    def candidates(self, name: NormalizedName) -> list[Candidate]:
        """Every usable version of ``name``, newest first (memoized)."""
        with self._lock:
            if name in self._candidates:
                return self._candidates[name]
        indexes = self.indexes_for(name)
        found = self.pages.first(indexes, name)
        out: list[Candidate] = []
        if found is None:
            self.reasons[name] = f"no index has {name} ({', '.join(i.url for i in indexes)})"
        else:
            index, page = found
            skipped: dict[Version, str] = {}
            need = self.needs.get(name, frozenset())
            uncovered: list[str] = []
            for release in page.releases(self.variant.python, self.platforms):
                version = release.version
                if release.python_skip is not None:
                    skipped[version] = f"requires Python {release.python_skip}"
                if not release.files:
                    continue
                coverage = release.coverage
                if not coverage:
                    skipped[version] = f"no file for CPython {self.variant.python} on any platform"
                    continue
                if not need <= coverage:
                    missing = sorted(str(p) for p in need - coverage)
                    uncovered.append(f"{version} (none for {', '.join(missing)})")
                    continue
                out.append(
                    Candidate(
                        name=name, version=version, index=index, release=release, coverage=coverage
                    )
                )
            kept = {c.version for c in out}
            for version, why in sorted(skipped.items(), reverse=True):
                if version not in kept:
                    self.notes.setdefault(name, {})[version] = why
            if uncovered:
                self.reasons[name] = (
                    f"{name}: no wheel (and no sdist) for a platform that needs it in "
                    f"{', '.join(uncovered[:5])}{' ...' if len(uncovered) > 5 else ''}"
                )
        with self._lock:
            self._candidates[name] = out
        return out

    def indexes_for(self, name: str) -> list[Index]:
        """The routed index alone, else the non-explicit ones in priority order."""
        routed = self.plan.sources.get(name)
        if routed is not None:
            return [i for i in self.plan.indexes if i.name == routed]
        return [i for i in self.plan.indexes if not i.explicit]

    def _prefetch_page(self, name: str) -> None:
        """Fetch the page now, and the newest version's metadata as soon as it arrives."""
        norm = canonicalize_name(name)
        with self._lock:
            if norm in self._candidates:
                return
        futures = [self.pages.prefetch(index, norm) for index in self.indexes_for(norm)]

        def ready(_: object) -> None:
            # Never block a pool thread on another fetch: go on only once all are done.
            if not all(f.done() for f in futures) or any(f.exception() for f in futures):
                return
            # RuntimeError: the pool shut down (resolution ended) before the page came.
            with contextlib.suppress(PodlockError, RuntimeError):
                best = [c for c in self.candidates(norm) if not c.yanked]
                final = next((c for c in best if not c.version.is_prerelease), None)
                if final or best:
                    self.metadata.prefetch((final or best[0]).metadata_dist())

        for future in futures:
            future.add_done_callback(ready)


@lru_cache(maxsize=16384)
def _requirement(text: str) -> Requirement | None:
    """A Requires-Dist line parsed (None: invalid), shared by every variant and round; the
    result is never changed in place."""
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None
