"""Candidates: one version of a project (optionally with extras) and its files.

A candidate with extras (``jax[tpu]``) is its own identifier: it depends on the bare
candidate of the same version plus the extra's requirements, as in pip.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from packaging.utils import NormalizedName
from packaging.version import Version

from podlock.inputs.indexes import Index
from podlock.platforms import Platform
from podlock.resolver.python.pages import Release
from podlock.resolver.python.simple_api import Dist

PYTHON = "<python>"


def identifier(name: str, extras: frozenset[str]) -> str:
    """``name`` or ``name[a,b]`` (extras sorted): what resolvelib keys on."""
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """A version of ``name`` from ``index``: its usable files and where they install."""

    name: NormalizedName
    version: Version
    extras: frozenset[str] = frozenset()
    index: Index | None = None
    release: Release | None = field(default=None, compare=False)
    coverage: frozenset[Platform] = field(default=frozenset(), compare=False)

    @property
    def identifier(self) -> str:
        return identifier(self.name, self.extras)

    @property
    def dists(self) -> tuple[Dist, ...]:
        """The usable files (made on first use: most candidates are never looked into)."""
        return self.release.dists if self.release is not None else ()

    @property
    def yanked(self) -> bool:
        return self.release is not None and self.release.yanked

    def with_extras(self, extras: frozenset[str]) -> Candidate:
        return replace(self, extras=extras)

    def metadata_dist(self) -> Dist:
        """The file to read dependencies from: PEP 658 first, then a wheel, then the sdist."""

        def rank(d: Dist) -> tuple[bool, bool, bool, str]:
            pure = d.tags is not None and any(t.platform == "any" for t in d.tags)
            return (not d.link.metadata, d.tags is None, not pure, d.link.filename)

        return min(self.dists, key=rank)

    def __str__(self) -> str:
        return f"{self.identifier} {self.version}"


@dataclass(frozen=True, kw_only=True, slots=True)
class PythonCandidate:
    """The target interpreter, so that ``Requires-Python`` takes part in backtracking."""

    version: Version
    name: str = PYTHON
    extras: frozenset[str] = frozenset()

    @property
    def identifier(self) -> str:
        return PYTHON

    def __str__(self) -> str:
        return f"Python {self.version}"


AnyCandidate = Candidate | PythonCandidate
