"""What a wheel filename's tags and a ``Requires-Python`` say a target can install: cached,
since a page lists the same few tag sets and specifiers thousands of times."""

from __future__ import annotations

from functools import lru_cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, parse_tag
from packaging.version import Version

from podlock.platforms import Platform


def tag_text(filename: str) -> str:
    """``cp312-cp312-manylinux_2_17_x86_64`` of a wheel filename (as ``packaging`` splits)."""
    stem = filename[: -len(".whl")]
    return stem.split("-", stem.count("-") - 2)[-1]


@lru_cache(maxsize=4096)
def parse_tags(text: str) -> frozenset[Tag]:
    return parse_tag(text)


@lru_cache(maxsize=16384)
def installs_on(text: str, platforms: tuple[Platform, ...], python: str) -> frozenset[Platform]:
    """The ``platforms`` on which a wheel tagged ``text`` installs for CPython ``python``."""
    tags = parse_tags(text)
    return frozenset(p for p in platforms if not tags.isdisjoint(p.accepts(python)))


@lru_cache(maxsize=4096)
def python_fits(requires_python: str | None, python: Version) -> bool:
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True
