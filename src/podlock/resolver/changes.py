"""What an upgrade changed in a variant's lock: packages upgraded, downgraded, added and
removed, as data and as the Markdown body of a pull request."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ChangeKind = Literal["upgraded", "downgraded", "added", "removed", "changed"]
KINDS: tuple[ChangeKind, ...] = ("upgraded", "downgraded", "added", "removed", "changed")


@dataclass(frozen=True, kw_only=True)
class Change:
    name: str
    kind: ChangeKind
    old: str | None  # None when added
    new: str | None  # None when removed

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "old": self.old, "new": self.new}


@dataclass(frozen=True, kw_only=True)
class LockChanges:
    """One variant's changes, sorted by kind then name."""

    variant: str
    path: str
    changes: tuple[Change, ...]

    def of(self, kind: ChangeKind) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "path": self.path,
            **{kind: [c.to_dict() for c in self.of(kind)] for kind in KINDS},
        }


def versions(packages: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Canonical name -> version; a name locked twice (per-platform markers) lists both."""
    seen: dict[str, set[str]] = {}
    for name, version in packages:
        seen.setdefault(canonicalize_name(name), set()).add(version or "(unversioned)")
    return {n: ", ".join(sorted(v, key=_order)) for n, v in seen.items()}


def diff(variant: str, path: str, old: dict[str, str], new: dict[str, str]) -> LockChanges:
    """The changes from ``old`` to ``new`` (both from :func:`versions`)."""
    out: list[Change] = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        out.append(Change(name=name, kind=_kind(before, after), old=before, new=after))
    out.sort(key=lambda c: (KINDS.index(c.kind), c.name))
    return LockChanges(variant=variant, path=path, changes=tuple(out))


def to_markdown(all_changes: Sequence[LockChanges]) -> str:
    """A pull request body: a summary line, then a table per variant that changed."""
    changed = [c for c in all_changes if c.changes]
    lines = ["## podlock lock --upgrade", ""]
    if not changed:
        variants = ", ".join(c.variant for c in all_changes) or "no variant"
        return "\n".join([*lines, f"No changes: the locks of {variants} are already current.", ""])
    total = sum(len(c.changes) for c in changed)
    lines += [f"{total} change{'s' if total != 1 else ''} in {len(changed)} lock(s).", ""]
    for lock in changed:
        counts = ", ".join(f"{len(lock.of(k))} {k}" for k in KINDS if lock.of(k))
        lines += [f"### `{lock.path}` ({lock.variant}): {counts}", ""]
        lines += ["| package | change | old | new |", "|---|---|---|---|"]
        for c in lock.changes:
            lines.append(f"| {c.name} | {c.kind} | {c.old or '—'} | {c.new or '—'} |")
        lines.append("")
    return "\n".join(lines)


def _kind(before: str | None, after: str | None) -> ChangeKind:
    if before is None:
        return "added"
    if after is None:
        return "removed"
    try:
        older, newer = Version(before), Version(after)
    except InvalidVersion:  # several versions (per platform) or none: no single order
        return "changed"
    return "upgraded" if newer > older else "downgraded"


def _order(text: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(text))
    except InvalidVersion:
        return (1, text)
