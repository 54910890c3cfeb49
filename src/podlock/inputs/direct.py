"""Direct URLs (``torch @ https://...whl``) beside a variant's index routing.

A direct URL is the user's choice: it stays wherever its wheel can run in the variant, and
the package is then not routed. Where it can't (a CUDA build in a cpu/tpu variant, a wheel
for none of the variant's platforms), the routed build replaces it, with a warning.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from packaging.requirements import Requirement
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from podlock.inputs.config import VariantConfig

_CUDA_LOCAL = re.compile(r"^cu\d+")
_LINUX = re.compile(r"^linux_")


def unfit_reason(requirement: Requirement, variant: VariantConfig) -> str | None:
    """Why the wheel ``requirement`` points at cannot run in ``variant``; None when it can,
    or when the URL is no wheel (an sdist or a repository: nothing to tell from its name).
    Cost: the file name only, no network."""
    if not requirement.url:
        return None
    filename = unquote(urlsplit(requirement.url).path.rsplit("/", 1)[-1])
    if not filename.endswith(".whl"):
        return None
    try:
        _, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    local = version.local or ""
    if variant.accelerator != "cuda" and _CUDA_LOCAL.match(local):
        return f"a CUDA build (+{local}), which a {variant.accelerator} host cannot use"
    # download.pytorch.org tags its builds plain ``linux_x86_64``; pip installs them on Linux.
    tags = frozenset(
        Tag(t.interpreter, t.abi, _LINUX.sub("manylinux2014_", t.platform)) for t in tags
    )
    if not any(tags & p.accepts(variant.python) for p in variant.platforms):
        targets = ", ".join(str(p) for p in variant.platforms)
        return f"a wheel for none of the variant's platforms ({targets}, CPython {variant.python})"
    return None


def without_url(requirement: Requirement) -> Requirement:
    """``requirement`` with its URL removed: extras and marker kept, any version allowed."""
    plain = Requirement(requirement.name)
    plain.extras = set(requirement.extras)
    plain.marker = requirement.marker
    return plain
