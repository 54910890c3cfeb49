"""The throwaway project podlock asks ``uv lock`` to resolve for one variant: the
variant's requirements as one extra, its indexes in the order uv should try them, and the
packages routed to an index in ``[tool.uv.sources]``."""

from __future__ import annotations

from typing import Any

from podlock.inputs.indexes import IndexPlan
from podlock.inputs.runtime import VariantRequirements
from podlock.resolver.uvlock import ROOT


def generated_project(vreq: VariantRequirements, plan: IndexPlan) -> dict[str, Any]:
    """The pyproject.toml that asks uv for one variant (its requirements as one extra)."""
    variant = vreq.variant
    ordered, sources = _indexes_and_sources(vreq, plan)
    uv: dict[str, Any] = {
        "package": False,
        "environments": [p.marker for p in sorted(variant.platforms)],
        "index": ordered,
    }
    if sources:
        uv["sources"] = sources
    if vreq.constraints:
        uv["constraint-dependencies"] = sorted(set(vreq.constraints))
    if plan.find_links:
        uv["find-links"] = list(plan.find_links)
    if plan.no_index:
        uv["no-index"] = True
    if plan.pre:
        uv["prerelease"] = "allow"
    if vreq.prereleases:
        uv["prerelease-package"] = dict.fromkeys(sorted(vreq.prereleases), "allow")
    if plan.trusted_hosts:
        uv["allow-insecure-host"] = list(plan.trusted_hosts)
    return {
        "project": {
            "name": ROOT,
            "version": "0",
            "requires-python": f"=={variant.python}.*",
            "dependencies": [],
            "optional-dependencies": {variant.name: list(vreq.requirements)},
        },
        "tool": {"uv": uv},
    }


def _indexes_and_sources(
    vreq: VariantRequirements, plan: IndexPlan
) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """``[[tool.uv.index]]`` entries (in the order uv should try them) and
    ``[tool.uv.sources]`` routes."""
    indexes: dict[str, dict[str, Any]] = {}
    for index in plan.indexes:
        entry: dict[str, Any] = {"name": index.name, "url": index.url}
        if index.explicit:
            entry["explicit"] = True
        if index.name == "default":
            entry["default"] = True
        indexes.setdefault(index.name, entry)
    sources: dict[str, dict[str, str]] = {}
    for pkg, index_name in sorted(plan.sources.items()):
        rest = vreq.direct_urls.get(pkg)
        if pkg not in vreq.direct or rest == ():
            continue  # uv routes direct requirements only; a kept URL is not routed
        route = {"index": index_name}
        if rest:  # the URL's wheel runs on the other platforms: route only these
            route["marker"] = " or ".join(f"({p.marker})" for p in sorted(rest))
        sources[pkg] = route
    # uv tries indexes in order; the default (PyPI or --index-url) goes last, like pip.
    ordered = sorted(indexes.values(), key=lambda e: bool(e.get("default")))
    return ordered, sources
