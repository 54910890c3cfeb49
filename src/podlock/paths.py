"""Where things live: a variant's lock in the project, and podlock's caches
(``$PODLOCK_CACHE_DIR`` or the XDG cache dir)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def cache_dir() -> Path:
    explicit = os.environ.get("PODLOCK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "podlock"


def mark_used(path: Path) -> None:
    """Set ``path``'s mtime to now: a cache entry's time of last use, which ``podlock prune``
    goes by. A cache on a read-only disk just keeps its old times."""
    with contextlib.suppress(OSError):
        os.utime(path)


def lock_path(root: Path, variant: str) -> Path:
    """The lock file of ``variant`` in the project at ``root``."""
    return root / f"pylock.{variant}.toml"
