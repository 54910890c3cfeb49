"""Resolution failures that come from index routing: a variant routes a package (torch to
the PyTorch CPU index) to an index that has no version it asks for. The resolver only says
``there is no version of torch==2.0.0``; PyPI may well have it. Name the index asked and,
for one page fetch per other index, one that has it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from podlock.errors import PodlockError
from podlock.inputs.config import Config
from podlock.inputs.indexes import Index, IndexPlan
from podlock.inputs.runtime import VariantRequirements
from podlock.paths import cache_dir

_NO_VERSION = re.compile(r"no version of ([A-Za-z0-9][A-Za-z0-9._-]*)([^\s,]*)")
_NOT_FOUND = re.compile(r"\b([A-Za-z0-9][A-Za-z0-9._-]*) was not found in the package registry")


@dataclass(frozen=True, kw_only=True)
class RouteFailure:
    """A routed package the resolver found no fitting version of, said in the user's terms."""

    message: str
    hint: str


def route_failure(
    text: str,
    group: Sequence[tuple[VariantRequirements, IndexPlan]],
    config: Config,
    *,
    offline: bool,
) -> RouteFailure | None:
    """The routing behind the resolver's explanation ``text``, or None when no package it
    names is routed. Cost: online, one project page per other index of the variant."""
    asked = [(m.group(1), m.group(2)) for m in _NO_VERSION.finditer(text)]
    asked += [(m.group(1), "") for m in _NOT_FOUND.finditer(text)]
    for raw_name, spec in asked:
        name = canonicalize_name(raw_name)
        for vreq, plan in group:
            routed = plan.sources.get(name)
            if routed is None or vreq.direct_urls.get(name) == ():
                continue
            index = next(i for i in plan.indexes if i.name == routed)
            variant = vreq.variant
            message = f"variant {variant.name} takes {name} from its route, {index.url}, "
            message += f"which has no {name}{spec}" if spec else f"which has no {name} at all"
            other = None if offline else _index_with(name, spec, index, plan, vreq)
            if other is not None:
                message += f" ({other.url} has it)"
            table = "tool.podlock." if config.file == "pyproject.toml" else ""
            table = f"[{table}{config.variants_key}.{variant.name}] sources"
            return RouteFailure(
                message=message,
                hint=f"pin a version of {name} that {index.url} has, or route {name} "
                f"elsewhere in {table} (an index name from [indexes] or a URL)",
            )
    return None


def _index_with(
    name: str, spec: str, asked: Index, plan: IndexPlan, vreq: VariantRequirements
) -> Index | None:
    """Another index of the variant with a release of ``name`` matching ``spec`` that
    installs on the variant's targets; None when none does or the pages can't be read."""
    try:
        wanted = SpecifierSet(spec)
    except InvalidSpecifier:
        return None
    others = [i for i in plan.indexes if i.url != asked.url]
    variant = vreq.variant
    # Here, not at the top: only a failed resolution reads pages, and the HTTP client costs
    # every ``podlock lock`` (a no-op one included) ~0.13 s to import.
    from podlock.resolver.python.http_cache import HttpClient
    from podlock.resolver.python.pages import ProjectPages

    http = HttpClient(indexes=plan.indexes, cache=cache_dir() / "python-resolver" / "pages")
    with ThreadPoolExecutor(4, thread_name_prefix="podlock-route") as pool:
        pages = ProjectPages(http, pool, None)
        for index in others:
            pages.prefetch(index, name)
        for index in others:
            with contextlib.suppress(PodlockError, OSError):
                page = pages.get(index, name)
                releases = page.releases(variant.python, variant.platforms) if page else []
                if any(r.files and wanted.contains(r.version, prereleases=True) for r in releases):
                    return index
    return None
