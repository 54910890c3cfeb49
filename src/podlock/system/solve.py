"""Which .debs a base needs for the asked-for packages: apt's choice, reproduced.

``apt-get install --no-install-recommends`` (apt 2.6, bookworm) marks packages depth-first
(``pkgDepCache::MarkInstall`` in apt-pkg/depcache.cc): the asked-for packages are all marked
first, then each one's Pre-Depends and Depends are walked in order; a dependency already
satisfied by what is installed or marked is left alone; otherwise its OR group's solutions
are tried in apt's order (``getAllPossibleSolutions``): the candidates of each alternative and
of its providers, sorted by ``CompareProviders``, those already installed (to be upgraded)
before any new one, then alternatives in order; the first that can be installed wins, and is
itself walked before the next dependency. So *when* a provider gets marked matters: ffmpeg's
``libblas3 | libblas.so.3`` is met before libopenblas0's ``libopenblas0-pthread`` is walked,
and apt installs libblas3. What a failed alternative's walk marked stays marked; apt-get
drops, at the end, the new packages nothing kept needs (``sweep``). ``name:any`` is met only
by a Multi-Arch: allowed package. Never Recommends or Suggests; Conflicts and Breaks are not
modelled. A package's candidate is its highest version not below the base's (apt never
downgrades), or the version locked before (still in the index), or ``NAME=VERSION``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from debian.debian_support import Version

from podlock.errors import PodlockError
from podlock.system.distro import Installed
from podlock.system.relations import fits as _fits
from podlock.system.relations import relations as _relations
from podlock.system.relations import shown as _shown

# apt's pkgCache::State::VerPriority; a stanza without Priority is 0 (sorts first)
PRIORITIES = {"required": 1, "important": 2, "standard": 3, "optional": 4, "extra": 5}
RELATION_FIELDS = ("Pre-Depends", "Depends", "Conflicts", "Breaks", "Recommends", "Suggests",
                   "Replaces", "Enhances", "Provides")  # fmt: skip
# each relation's name and arch qualifier, the rest (version, arch list, profiles) skipped
_NAMES = re.compile(r"\s*([^\s,|(\[<:]+)(:[^\s,|(\[<]+)?[^,|]*[,|]?")
FORCE_ESSENTIAL = frozenset({"apt"})  # apt's pkgCacheGen::ForceEssential default


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
    priority: int = 0
    essential: bool = False
    important: bool = False
    multi_arch: str = ""  # "same", "foreign", "allowed" or ""
    weak: str = ""  # Recommends and Suggests: never installed, but they keep what they name
    order: int = 0  # when apt's cache first meets the name: its package ID (ties go to higher)


def index_of(entries: Iterable[Mapping[str, Any]], arch: str) -> dict[str, list[Candidate]]:
    """name -> candidates for ``arch`` (and ``all``), highest version first."""
    out: dict[str, list[Candidate]] = {}
    order: dict[str, int] = {}
    seen: set[tuple[str, str, str]] = set()
    for e in entries:
        key = (e["Package"], e["Version"], e.get("Architecture", ""))
        if key[2] not in (arch, "all") or key in seen:
            continue  # binary-all's stanzas are binary-ARCH's too
        seen.add(key)
        deps = ", ".join(x for x in (e.get("Pre-Depends"), e.get("Depends")) if x)
        _meet(e, order)
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
                priority=PRIORITIES.get(e.get("Priority", ""), 0),
                essential=e.get("Essential") == "yes" or e["Package"] in FORCE_ESSENTIAL,
                important=e.get("Important") == "yes",
                multi_arch=e.get("Multi-Arch", ""),
                weak=", ".join(x for x in (e.get("Recommends"), e.get("Suggests")) if x),
                order=order[e["Package"]],
            )
        )
    for cands in out.values():
        cands.sort(key=lambda c: (Version(c.version), c.url), reverse=True)
    return out


def _meet(entry: Mapping[str, Any], order: dict[str, int]) -> None:
    """Number the names a stanza brings into apt's cache as its generator does (a package ID
    is given when a stanza or a relation first names it; pkgcachegen.cc ``NewPackage``): the
    package, then its relations in deblistparser.cc's field order; an arch-qualified name
    (``python3:any``) is another package."""
    order.setdefault(entry["Package"], len(order))
    for key in RELATION_FIELDS:
        for name, archqual in _NAMES.findall(entry.get(key, "")):
            if not archqual:
                order.setdefault(name, len(order))


def solve(
    wanted: Sequence[str],
    index: Mapping[str, list[Candidate]],
    installed: Mapping[str, Installed],
    *,
    base: str,
    preferred: Mapping[str, str] | None = None,
) -> list[Candidate]:
    """The packages to add to (or upgrade in) the base for ``wanted``, sorted by name.
    Cost: one walk of the new packages' dependencies."""
    apt = _DepCache(index=index, installed=installed, base=base, preferred=preferred or {})
    asked = [apt.asked(name) for name in wanted]
    for cand in asked:  # apt-get marks every asked-for package before any dependency
        if cand is not None:
            apt.mark(cand)
    for cand in asked:
        if cand is not None and not apt.install_dependencies(cand):
            raise apt.failure or _missing(cand.name, base, None, index)
    return sorted(apt.sweep([c for c in asked if c is not None]), key=lambda c: c.name)


@dataclass(kw_only=True)
class _DepCache:
    """apt's install state: the base's packages plus those marked, and who provides what."""

    index: Mapping[str, list[Candidate]]
    installed: Mapping[str, Installed]
    base: str
    preferred: Mapping[str, str]
    pins: dict[str, str] = field(default_factory=dict)
    marked: dict[str, Candidate] = field(default_factory=dict)
    failure: NoCandidate | None = None
    # virtual name -> provider -> the versions it is provided at (None: unversioned)
    provided: dict[str, dict[str, list[str | None]]] = field(default_factory=dict)
    providers: dict[str, list[str]] = field(default_factory=dict)  # virtual -> package names

    def __post_init__(self) -> None:
        for package in self.installed.values():
            self._provide(package.name, package.provides)
        for name, cands in self.index.items():
            for c in cands:
                for group in _relations(c.provides):
                    for rel in group:
                        names = self.providers.setdefault(rel["name"], [])
                        if name not in names:
                            names.append(name)

    def asked(self, spec: str) -> Candidate | None:
        """What apt-get does with one command-line argument: the package's candidate (or the
        pinned version), a pure virtual package's one provider, else an error."""
        name, _, version = spec.partition("=")
        if version:
            if not any(c.version == version for c in self.index.get(name, [])):
                raise _missing(spec, self.base, None, self.index)
            self.pins[name] = version
        cand = self.candidate(name)
        if cand is None and name in self.installed and not version:
            return None  # installed, from no source: its installed version is the candidate
        if cand is None:
            offered = [p for p in self.providers.get(name, []) if self._provides(p, name, None)]
            if len(offered) != 1:
                raise _virtual(spec, self.base, offered, self.index)
            cand = self.candidate(offered[0])
        assert cand is not None
        if self._current(cand.name) == cand.version:
            return None  # "is already the newest version"
        return cand

    def candidate(self, name: str, constraint: tuple[str, str] | None = None) -> Candidate | None:
        """apt's candidate: the pinned version, else the one locked before while it fits what
        asks for it (podlock's, so a lock moves only with ``--upgrade``), else the highest."""
        cands = self.index.get(name, [])
        for c in cands:
            if c.version == self.pins.get(name):
                return c
        current = self.installed.get(name)
        if current is not None:  # only a pin makes apt downgrade what the base has
            cands = [c for c in cands if Version(c.version) >= Version(current.version)]
        for c in cands:
            if c.version == self.preferred.get(name) and _fits(c.version, constraint):
                return c
        return cands[0] if cands else None

    def mark(self, cand: Candidate) -> None:
        old = self.installed.get(cand.name)
        if old is not None:
            for group in _relations(old.provides):
                for rel in group:
                    self.provided.get(rel["name"], {}).pop(cand.name, None)
        self.marked[cand.name] = cand
        self._provide(cand.name, cand.provides)

    def install(self, cand: Candidate) -> bool:
        """``MarkInstall(pkg, AutoInst=true)``: mark it, then walk its dependencies."""
        if cand.name in self.marked or self._current(cand.name) == cand.version:
            return True
        self.mark(cand)
        if self.install_dependencies(cand):
            return True
        del self.marked[cand.name]  # apt discards this package, not what its walk marked
        self._restore(cand)
        return False

    def install_dependencies(self, cand: Candidate) -> bool:
        for group in _relations(cand.depends):
            if any(self.satisfied(rel) for rel in group):
                continue
            if not any(self.install(s) for s in self.solutions(group)):
                if self.failure is None:
                    text = " | ".join(_shown(r) for r in group)
                    needed_by = f"{cand.name} {cand.version}"
                    self.failure = _missing(text, self.base, needed_by, self.index)
                return False
        return True

    def satisfied(self, rel: Mapping[str, Any]) -> bool:
        """``DepInstall``: met by what will be installed (the base, as marked over); ``:any``
        only by a Multi-Arch: allowed package or provider."""
        name, constraint, any_arch = rel["name"], rel.get("version"), rel.get("archqual") == "any"
        current = self._current(name)
        if (
            current is not None
            and _fits(current, constraint)
            and not (any_arch and not self._allowed(name))
        ):
            return True
        for provider, versions in self.provided.get(name, {}).items():
            if any_arch and not self._allowed(provider):
                continue
            if any(_fits_provided(v, constraint) for v in versions):
                return True
        return False

    def solutions(self, group: Sequence[Mapping[str, Any]]) -> list[Candidate]:
        """apt's ``getAllPossibleSolutions``: per alternative, its candidate and its providers'
        (``CompareProviders`` order); the installed ones first, over the whole group."""
        upgrades: list[Candidate] = []
        new: list[Candidate] = []
        for rel in group:
            found: list[Candidate] = []
            own = self.candidate(rel["name"], rel.get("version"))
            if own is not None and _fits(own.version, rel.get("version")):
                found.append(own)
            for name in self.providers.get(rel["name"], []):
                cand = self.candidate(name)
                if cand is not None and self._provides(name, rel["name"], rel.get("version")):
                    found.append(cand)
            if rel.get("archqual") == "any":
                found = [c for c in found if c.multi_arch == "allowed"]
            order = functools.cmp_to_key(functools.partial(self._compare, rel["name"]))
            for cand in sorted(found, key=order):
                (upgrades if cand.name in self.installed else new).append(cand)
        out: list[Candidate] = []
        for cand in upgrades + new:
            if not out or out[-1] != cand:
                out.append(cand)
        return out

    def _compare(self, target: str, a: Candidate, b: Candidate) -> int:
        """apt's ``CompareProviders`` (protection and architectures aside): -1 if ``a`` first."""
        a_in, b_in = a.name in self.installed, b.name in self.installed
        if "same" in (a.multi_arch, b.multi_arch):
            a_same, b_same = a.multi_arch == "same" and a_in, b.multi_arch == "same" and b_in
            if a_same != b_same:
                return -1 if a_same else 1
        keys = (
            (a_in, b_in),
            (a.name == target, b.name == target),
            (a.essential, b.essential),
            (a.important, b.important),
        )
        for x, y in keys:
            if x != y:
                return -1 if x else 1
        if a.priority != b.priority:
            return -1 if a.priority < b.priority else 1
        return -1 if a.order > b.order else (1 if a.order < b.order else 0)

    def sweep(self, asked: Sequence[Candidate]) -> list[Candidate]:
        """apt-get's last step (``DoAutomaticRemove``): a new package that nothing kept
        depends on, recommends or suggests is not installed after all (what the walk of an
        alternative that failed marked). Kept (``MarkAndSweep``): the asked-for packages,
        upgrades of the base's, Essential and Important ones, and what they name."""
        roots = [
            c
            for c in self.marked.values()
            if c in asked or c.name in self.installed or c.essential or c.important
        ]
        kept: set[str] = set()
        while roots:
            cand = roots.pop()
            if cand.name not in kept:
                kept.add(cand.name)
                for group in _relations(", ".join(x for x in (cand.depends, cand.weak) if x)):
                    roots += [m for rel in group for m in self._meeting(rel)]
        return [c for c in self.marked.values() if c.name in kept]

    def _meeting(self, rel: Mapping[str, Any]) -> list[Candidate]:
        """The marked packages that meet ``rel``, by name or by what they provide."""
        name, constraint = rel["name"], rel.get("version")
        own = self.marked.get(name)
        out = [own] if own is not None and _fits(own.version, constraint) else []
        for provider, versions in self.provided.get(name, {}).items():
            cand = self.marked.get(provider)
            if cand is not None and any(_fits_provided(v, constraint) for v in versions):
                out.append(cand)
        return out

    def _allowed(self, name: str) -> bool:
        """Whether ``name``, as it will be installed, is Multi-Arch: allowed (meets ``:any``)."""
        if name in self.marked:
            return self.marked[name].multi_arch == "allowed"
        package = self.installed.get(name)
        return package is not None and package.multi_arch == "allowed"

    def _current(self, name: str) -> str | None:
        if name in self.marked:
            return self.marked[name].version
        package = self.installed.get(name)
        return package.version if package is not None else None

    def _provides(self, name: str, virtual: str, constraint: tuple[str, str] | None) -> bool:
        """Whether ``name``'s candidate provides ``virtual`` at a version the dependency takes."""
        cand = self.candidate(name)
        for group in _relations(cand.provides if cand else ""):
            for p in group:
                version = p.get("version")
                if p["name"] != virtual:
                    continue
                if constraint is None or (version and _fits(version[1], constraint)):
                    return True
        return False

    def _provide(self, name: str, provides: str) -> None:
        for group in _relations(provides):
            for p in group:
                version = p.get("version")
                exact = version[1] if version and version[0] == "=" else None
                self.provided.setdefault(p["name"], {}).setdefault(name, []).append(exact)

    def _restore(self, cand: Candidate) -> None:
        for group in _relations(cand.provides):
            for rel in group:
                self.provided.get(rel["name"], {}).pop(cand.name, None)
        old = self.installed.get(cand.name)
        if old is not None:
            self._provide(old.name, old.provides)


def _fits_provided(version: str | None, constraint: tuple[str, str] | None) -> bool:
    """An unversioned Provides (None) meets only an unversioned dependency."""
    return constraint is None or (version is not None and _fits(version, constraint))


def _missing(
    what: str, base: str, needed_by: str | None, index: Mapping[str, list[Candidate]]
) -> NoCandidate:
    name = what.split(" ", 1)[0].split("=", 1)[0].split(":", 1)[0]
    have = [c.version for c in index.get(name, [])]
    where = f" (needed by {needed_by})" if needed_by else ""
    versions = f"; the archive has {', '.join(have)}" if have else ""
    return NoCandidate(
        f"system package {what}{where}: no candidate in the archive of the base image "
        f"{base}{versions}",
        hint="check the name (apt-cache policy NAME in the base), a pin (NAME=VERSION) against "
        "the versions the archive has, or the base's apt sources",
    )


def _virtual(
    spec: str, base: str, offered: Sequence[str], index: Mapping[str, list[Candidate]]
) -> NoCandidate:
    if not offered:
        return _missing(spec, base, None, index)
    return NoCandidate(
        f"system package {spec} is a virtual package provided by {', '.join(sorted(offered))} "
        f"in the archive of the base image {base}: apt-get would not pick one",
        hint="name the provider you want in system-packages",
    )
