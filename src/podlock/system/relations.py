"""Debian package relations (``Depends: a (>= 1) | b:any``): parsed once, and compared
with Debian's version ordering."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from debian.deb822 import PkgRelation
from debian.debian_support import Version

_OPS = {
    "<<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    "=": lambda c: c == 0,
    ">=": lambda c: c >= 0,
    ">>": lambda c: c > 0,
}


@functools.lru_cache(maxsize=65536)
def _parsed(text: str) -> tuple[tuple[tuple[tuple[str, Any], ...], ...], ...]:
    groups = PkgRelation.parse_relations(text)
    return tuple(tuple(tuple(dict(rel).items()) for rel in group) for group in groups)


def relations(text: str) -> list[list[dict[str, Any]]]:
    """The OR groups of a relation field, each relation a dict: ``name``, ``version``
    (``(op, version)`` or None), ``archqual`` (``any``, an architecture, or None)."""
    if not text.strip():
        return []
    return [[dict(rel) for rel in group] for group in _parsed(text)]


def fits(version: str, constraint: tuple[str, str] | None) -> bool:
    """Whether ``version`` meets ``constraint`` (``(">=", "1.2")``; None: any version)."""
    if constraint is None:
        return True
    op, wanted = constraint
    a, b = Version(version), Version(wanted)
    return bool(_OPS[op](-1 if a < b else (1 if a > b else 0)))


def shown(rel: Mapping[str, Any]) -> str:
    """A relation as a Packages file spells it: ``name (op version)``."""
    version = rel.get("version")
    name = f"{rel['name']}:{rel['archqual']}" if rel.get("archqual") else str(rel["name"])
    return f"{name} ({version[0]} {version[1]})" if version else name
