"""Direct URLs (``torch @ https://...whl``) beside a variant's index routing.

A direct URL is the user's choice: it stays wherever its wheel can run in the variant, and
the package is not routed there. Where it can't (a CUDA build in a cpu/tpu variant, a wheel
for another platform), the routed build replaces it, with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from podlock.inputs.config import VariantConfig
from podlock.platforms import Platform

_CUDA_LOCAL = re.compile(r"^cu\d+")
_LINUX = re.compile(r"^linux_")


@dataclass(frozen=True, kw_only=True)
class UrlFit:
    """Where a ``name @ url`` wheel can run in a variant: ``platforms`` (all of them when the
    URL is no wheel: an sdist or a repository, nothing to tell from its name); ``reason``
    says why not on the others, or anywhere when ``platforms`` is empty."""

    platforms: tuple[Platform, ...]
    reason: str | None = None


def url_fit(requirement: Requirement, variant: VariantConfig) -> UrlFit:
    """Where the wheel ``requirement`` points at runs among ``variant``'s platforms.
    Cost: the file name only, no network."""
    everywhere = UrlFit(platforms=variant.platforms)
    filename = unquote(urlsplit(requirement.url or "").path.rsplit("/", 1)[-1])
    if not filename.endswith(".whl"):
        return everywhere
    try:
        _, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return everywhere
    local = version.local or ""
    if variant.accelerator != "cuda" and _CUDA_LOCAL.match(local):
        reason = f"a CUDA build (+{local}), which a {variant.accelerator} host cannot use"
        return UrlFit(platforms=(), reason=reason)
    # download.pytorch.org tags its builds plain ``linux_x86_64``; pip installs them on Linux.
    tags = frozenset(
        Tag(t.interpreter, t.abi, _LINUX.sub("manylinux2014_", t.platform)) for t in tags
    )
    fits = tuple(p for p in variant.platforms if tags & p.accepts(variant.python))
    if fits == variant.platforms:
        return everywhere
    shown = ", ".join(str(p) for p in fits or variant.platforms)
    if not fits:
        reason = f"a wheel for none of the variant's platforms ({shown}, CPython {variant.python})"
    else:
        reason = f"a wheel for {shown} only"
    return UrlFit(platforms=fits, reason=reason)


def restricted(requirement: Requirement, platforms: Sequence[Platform]) -> Requirement:
    """``requirement``, applying only on ``platforms``."""
    out = Requirement(str(requirement))
    where = " or ".join(f"({p.marker})" for p in sorted(platforms))
    out.marker = Marker(f"({out.marker}) and ({where})" if out.marker else where)
    return out


def without_url(requirement: Requirement) -> Requirement:
    """``requirement`` with its URL removed: extras and marker kept, any version allowed."""
    plain = Requirement(requirement.name)
    plain.extras = set(requirement.extras)
    plain.marker = requirement.marker
    return plain
