"""Requirements: what a parent (or the user) asks of an identifier, and whether a
candidate satisfies it. Matching lives here, not in the provider."""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from podlock.resolver.python.candidates import (
    PYTHON,
    AnyCandidate,
    Candidate,
    PythonCandidate,
    identifier,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SpecifierRequirement:
    """``name[extras] specifier`` from Requires-Dist or the user's requirements."""

    requirement: Requirement
    parent: Candidate | None  # None: the user's requirements
    # Derived once: resolvelib asks for them, and for matches, tens of thousands of times.
    name: str = field(init=False)
    identifier: str = field(init=False)
    _allowed: dict[Version, bool] = field(
        init=False, default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        name = canonicalize_name(self.requirement.name)
        extras = frozenset(canonicalize_name(e) for e in self.requirement.extras)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "identifier", identifier(name, extras))

    @property
    def specifier(self) -> SpecifierSet:
        return self.requirement.specifier

    @property
    def pinned(self) -> bool:
        """``==``/``===`` to one version: the only way a yanked file may be chosen (PEP 592)."""
        return any(
            s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*"))
            for s in self.specifier
        )

    @property
    def names_prerelease(self) -> bool:
        return any(s.prereleases for s in self.specifier)

    def allows(self, version: Version) -> bool:
        """Whether the specifier admits ``version`` (pre-releases included; memoized)."""
        allowed = self._allowed.get(version)
        if allowed is None:
            specifier = self.requirement.specifier
            allowed = not specifier or specifier.contains(version, prereleases=True)
            self._allowed[version] = allowed
        return allowed

    def is_satisfied_by(self, candidate: AnyCandidate) -> bool:
        return _satisfies(self, candidate)

    def __str__(self) -> str:
        req = Requirement(str(self.requirement))
        req.marker = None
        return str(req)


@dataclass(frozen=True, kw_only=True, slots=True)
class ExplicitRequirement:
    """An extras candidate's link to its bare candidate: exactly that version."""

    candidate: Candidate
    parent: Candidate | None

    @property
    def name(self) -> str:
        return self.candidate.name

    @property
    def identifier(self) -> str:
        return self.candidate.name

    pinned = True
    names_prerelease = True

    def allows(self, version: Version) -> bool:
        return version == self.candidate.version

    def is_satisfied_by(self, candidate: AnyCandidate) -> bool:
        return _satisfies(self, candidate)

    def __str__(self) -> str:
        return f"{self.candidate.name}=={self.candidate.version}"


@dataclass(frozen=True, kw_only=True, slots=True)
class RequiresPython:
    """A distribution's ``Requires-Python``, checked against the variant's Python."""

    specifier: SpecifierSet
    parent: Candidate | None
    _allowed: dict[Version, bool] = field(
        init=False, default_factory=dict, compare=False, repr=False
    )

    name = PYTHON
    identifier = PYTHON
    pinned = False
    names_prerelease = False

    def allows(self, version: Version) -> bool:
        """Memoized: every match of the Python pin checks all Requires-Python seen so far."""
        allowed = self._allowed.get(version)
        if allowed is None:
            allowed = self._allowed[version] = self.specifier.contains(version, prereleases=True)
        return allowed

    def is_satisfied_by(self, candidate: AnyCandidate) -> bool:
        return isinstance(candidate, PythonCandidate) and self.allows(candidate.version)

    def __str__(self) -> str:
        return f"Python {self.specifier}"


AnyRequirement = SpecifierRequirement | ExplicitRequirement | RequiresPython


def _satisfies(req: SpecifierRequirement | ExplicitRequirement, candidate: AnyCandidate) -> bool:
    """A bare candidate of the requirement's name at a version it allows."""
    return (
        isinstance(candidate, Candidate)
        and candidate.identifier == req.identifier
        and req.allows(candidate.version)
    )
