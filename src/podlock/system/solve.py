"""Which .debs a base needs for the asked-for packages: a small, deterministic resolver.

Like ``apt-get install --no-install-recommends``: Pre-Depends and Depends (alternatives in
order, virtual packages through Provides, versioned constraints), never Recommends or
Suggests. A dependency the base already satisfies is left alone; otherwise the first
alternative with a candidate wins (its highest version, or the version locked before when
the index still has it and it fits), then a provider of a virtual package (by name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from debian.deb822 import PkgRelation
from debian.debian_support import Version

from podlock.errors import PodlockError
from podlock.system.distro import Installed

_OPS = {
    "<<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    "=": lambda c: c == 0,
    ">=": lambda c: c >= 0,
    ">>": lambda c: c > 0,
}


class NoCandidate(PodlockError):
    """A system package (or a dependency of one) the base's archive cannot provide."""


@dataclass(frozen=True, kw_only=True)
class Candidate:
    name: str
    version: str
    architecture: str
    url: str
    size: int
    sha256: str
    depends: str = ""
    provides: str = ""


@dataclass(kw_only=True)
class _State:
    chosen: dict[str, Candidate] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)
    # virtual name -> the versions it is provided at (None: unversioned), base and chosen
    provided: dict[str, list[str | None]] = field(default_factory=dict)

    def provide(self, provides: str) -> None:
        for group in _relations(provides):
            for p in group:
                version = p.get("version")
                exact = version[1] if version and version[0] == "=" else None
                self.provided.setdefault(p["name"], []).append(exact)


def index_of(entries: Iterable[Mapping[str, Any]], arch: str) -> dict[str, list[Candidate]]:
    """name -> candidates for ``arch`` (and ``all``), highest version first."""
    out: dict[str, list[Candidate]] = {}
    for e in entries:
        if e.get("Architecture") not in (arch, "all"):
            continue
        deps = ", ".join(x for x in (e.get("Pre-Depends"), e.get("Depends")) if x)
        out.setdefault(e["Package"], []).append(
            Candidate(
                name=e["Package"],
                version=e["Version"],
                architecture=e["Architecture"],
                url=e["url"],
                size=int(e["Size"]),
                sha256=e["SHA256"],
                depends=deps,
                provides=e.get("Provides", ""),
            )
        )
    for cands in out.values():
        cands.sort(key=lambda c: (Version(c.version), c.url), reverse=True)
    return out


def solve(
    wanted: Sequence[str],
    index: Mapping[str, list[Candidate]],
    installed: Mapping[str, Installed],
    *,
    base: str,
    preferred: Mapping[str, str] | None = None,
) -> list[Candidate]:
    """The packages to add to the base for ``wanted``, sorted by name."""
    preferred = preferred or {}
    providers: dict[str, list[Candidate]] = {}
    for cands in index.values():
        for c in cands:
            for group in _relations(c.provides):
                for rel in group:
                    providers.setdefault(rel["name"], []).append(c)
    state = _State()
    for package in installed.values():
        state.provide(package.provides)
    queue: list[tuple[str, str]] = []
    for name in wanted:
        spec = name.split("=", 1)
        rel = {"name": spec[0], "version": ("=", spec[1]) if len(spec) == 2 else None}
        if _satisfied(rel, installed, state):
            continue
        cand = _pick(rel, index, preferred)
        if cand is None:
            cand = _provider(rel, providers)
        if cand is None:
            raise _missing(name, base, None, index)
        _choose(cand, f"asked for ({name})", state, queue)
    while queue:
        name, _ = queue.pop(0)
        cand = state.chosen[name]
        for group in _relations(cand.depends):
            if any(_satisfied(rel, installed, state) for rel in group):
                continue
            pick = None
            for rel in group:
                pick = _pick(rel, index, preferred) or _provider(rel, providers)
                if pick is not None:
                    break
            if pick is None:
                text = " | ".join(_shown(r) for r in group)
                raise _missing(text, base, f"{cand.name} {cand.version}", index)
            _choose(pick, f"{cand.name} depends on it", state, queue)
    return sorted(state.chosen.values(), key=lambda c: c.name)


def _relations(text: str) -> list[list[dict[str, Any]]]:
    if not text.strip():
        return []
    return [[dict(rel) for rel in group] for group in PkgRelation.parse_relations(text)]


def _choose(cand: Candidate, why: str, state: _State, queue: list[tuple[str, str]]) -> None:
    if cand.name in state.chosen:
        return
    state.chosen[cand.name] = cand
    state.why[cand.name] = why
    state.provide(cand.provides)
    queue.append((cand.name, why))


def _fits(version: str, constraint: tuple[str, str] | None) -> bool:
    if constraint is None:
        return True
    op, wanted = constraint
    a, b = Version(version), Version(wanted)
    return bool(_OPS[op](-1 if a < b else (1 if a > b else 0)))


def _satisfied(rel: Mapping[str, Any], installed: Mapping[str, Installed], state: _State) -> bool:
    name, constraint = rel["name"], rel.get("version")
    if name in state.chosen:
        return _fits(state.chosen[name].version, constraint)
    if name in installed and _fits(installed[name].version, constraint):
        return True
    for version in state.provided.get(name, []):
        if constraint is None or (version is not None and _fits(version, constraint)):
            return True
    return False


def _pick(
    rel: Mapping[str, Any], index: Mapping[str, list[Candidate]], preferred: Mapping[str, str]
) -> Candidate | None:
    cands = [c for c in index.get(rel["name"], []) if _fits(c.version, rel.get("version"))]
    if not cands:
        return None
    for c in cands:
        if preferred.get(c.name) == c.version:
            return c
    return cands[0]


def _provider(rel: Mapping[str, Any], providers: Mapping[str, list[Candidate]]) -> Candidate | None:
    constraint = rel.get("version")
    fitting = []
    for c in providers.get(rel["name"], []):
        if constraint is None:
            fitting.append(c)
            continue
        for group in _relations(c.provides):
            for p in group:
                version = p.get("version")
                if p["name"] == rel["name"] and version and _fits(version[1], constraint):
                    fitting.append(c)
    fitting.sort(key=lambda c: (c.name, Version(c.version)))
    return fitting[0] if fitting else None


def _shown(rel: Mapping[str, Any]) -> str:
    version = rel.get("version")
    return f"{rel['name']} ({version[0]} {version[1]})" if version else str(rel["name"])


def _missing(
    what: str, base: str, needed_by: str | None, index: Mapping[str, list[Candidate]]
) -> NoCandidate:
    name = what.split(" ", 1)[0].split("=", 1)[0]
    have = [c.version for c in index.get(name, [])]
    where = f" (needed by {needed_by})" if needed_by else ""
    versions = f"; the archive has {', '.join(have)}" if have else ""
    return NoCandidate(
        f"system package {what}{where}: no candidate in the archive of the base image "
        f"{base}{versions}",
        hint="check the name (apt-cache policy NAME in the base), a pin (NAME=VERSION) against "
        "the versions the archive has, or the base's apt sources",
    )
