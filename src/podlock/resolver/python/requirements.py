"""Requirements: what a parent (or the user) asks of an identifier, and whether a
candidate satisfies it. Matching lives here, not in the provider."""

from __future__ import annotations

from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from podlock.resolver.python.candidates import (
    PYTHON,
    AnyCandidate,
    Candidate,
    PythonCandidate,
    identifier,
)


@dataclass(frozen=True, kw_only=True)
class SpecifierRequirement:
    """``name[extras] specifier`` from Requires-Dist or the user's requirements."""

    requirement: Requirement
    parent: Candidate | None  # None: the user's requirements

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def identifier(self) -> str:
        return identifier(
            self.name, frozenset(canonicalize_name(e) for e in self.requirement.extras)
        )

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

    def is_satisfied_by(self, candidate: AnyCandidate) -> bool:
        return (
            isinstance(candidate, Candidate)
            and candidate.identifier == self.identifier
            and self.specifier.contains(candidate.version, prereleases=True)
        )

    def __str__(self) -> str:
        req = Requirement(str(self.requirement))
        req.marker = None
        return str(req)


@dataclass(frozen=True, kw_only=True)
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

    def is_satisfied_by(self, candidate: AnyCandidate) -> bool:
        return (
            isinstance(candidate, Candidate)
            and candidate.identifier == self.identifier
            and candidate.version == self.candidate.version
        )

    def __str__(self) -> str:
        return f"{self.candidate.name}=={self.candidate.version}"


@dataclass(frozen=True, kw_only=True)
class RequiresPython:
    """A distribution's ``Requires-Python``, checked against the variant's Python."""

    specifier: SpecifierSet
    parent: Candidate | None

    name = PYTHON
    identifier = PYTHON
    pinned = False
    names_prerelease = False

    def is_satisfied_by(self, candidate: AnyCandidate) -> bool:
        return isinstance(candidate, PythonCandidate) and self.specifier.contains(
            candidate.version, prereleases=True
        )

    def __str__(self) -> str:
        return f"Python {self.specifier}"


AnyRequirement = SpecifierRequirement | ExplicitRequirement | RequiresPython
