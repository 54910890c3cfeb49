"""What a resolver backend returns: pins per variant, with the platforms that need them.

Both backends (uv, resolvelib) produce this; ``assemble`` turns it into a Lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from podlock.inputs.discover import Inputs
from podlock.inputs.runtime import VariantRequirements
from podlock.platforms import Platform
from podlock.reporter import Reporter
from podlock.urls import filename_of


@dataclass(frozen=True, kw_only=True)
class RawArtifact:
    """A file as the index described it; size may be unknown until asked for."""

    url: str | None = None
    path: str | None = None
    sha256: str | None
    size: int | None = None
    upload_time: datetime | None = None

    @property
    def filename(self) -> str:
        return filename_of(self.url, self.path)


@dataclass(frozen=True, kw_only=True)
class Resolved:
    """One pinned package of one variant and the target platforms that reach it."""

    name: str
    version: str | None
    platforms: frozenset[Platform]
    index: str | None = None
    wheels: tuple[RawArtifact, ...] = ()
    sdist: RawArtifact | None = None
    archive: RawArtifact | None = None
    vcs: Mapping[str, str] | None = None
    required_by: frozenset[str] = frozenset()  # packages of the variant that depend on it
    # (platform, extras asked of it there), where any are: from the wheels' metadata
    extras: tuple[tuple[Platform, frozenset[str]], ...] = ()


@dataclass(frozen=True, kw_only=True)
class ResolveOptions:
    """How to resolve: from the cache only, and what may move."""

    offline: bool = False
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    # For commands that write nothing (``outdated``): leave no hint in podlock's cache
    # that a later resolution would read.
    read_only: bool = False


@dataclass(frozen=True, kw_only=True)
class Request:
    """Variants of a project to resolve, each on its own: a variant's pins never depend on
    which others are in the request."""

    inputs: Inputs
    variants: Sequence[VariantRequirements]
    mode: ResolveOptions = field(default_factory=ResolveOptions)


class Backend(Protocol):
    def resolve(self, request: Request, reporter: Reporter) -> dict[str, list[Resolved]]:
        """Pins per variant name. Raises ResolutionError with the backend's explanation."""
        ...
