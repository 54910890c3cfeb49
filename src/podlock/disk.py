"""The disk a build writes to: room checked before it starts, and a full disk (ENOSPC)
turned into one ``DiskFull`` error that names the filesystem and the fix.

A leaf: the blob store, the wheel fetcher, the tree builder and both builders use it.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from podlock.errors import DiskFull
from podlock.paths import cache_dir

FULL = (errno.ENOSPC, errno.EDQUOT)
# Left free on top of a build's need: a build that fills the disk to the last byte stops
# every other program on the machine too (issue #22).
RESERVE = 256 * 2**20
CHECK_ENV = "PODLOCK_DISK_CHECK"  # "off": skip the check (its need is an estimate)


def is_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in FULL


def size_text(n: int) -> str:
    """Bytes for a person, in powers of 1000 as podlock prints sizes: ``314.6 MB``."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (a cache dir not made yet)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on ``path``'s filesystem."""
    return shutil.disk_usage(existing(path)).free


def full_error(exc: OSError, path: Path) -> DiskFull:
    """The error for a write under ``path`` that failed with ENOSPC/EDQUOT."""
    where = exc.filename or path
    try:
        free = free_bytes(path)
    except OSError:
        free = None
    left = f" ({size_text(free)} free now)" if free is not None else ""
    return DiskFull(
        f"the disk is full: writing {where} failed ({exc.strerror or exc}); the filesystem "
        f"of {path}{left} cannot hold this build. Partial files were removed",
        path=str(path),
        free=free,
    )


@contextmanager
def full_disk(path: Path) -> Iterator[None]:
    """Within the block, ENOSPC/EDQUOT becomes ``DiskFull`` naming ``path``'s filesystem.
    Whoever wrote a partial file removes it before the error gets here."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in FULL:
            raise
        raise full_error(exc, path) from exc


def _names(paths: Iterable[Path]) -> list[str]:
    """Each path, those inside podlock's cache dir named by the cache dir."""
    cache = cache_dir().absolute()
    names = (cache if p.absolute().is_relative_to(cache) else p for p in paths)
    return [str(p) for p in dict.fromkeys(names)]


def check_free(needs: Mapping[Path, int], *, what: str) -> None:
    """Stop with ``DiskFull`` unless each filesystem named by ``needs`` (path -> bytes a
    build will write there; paths on one filesystem add up) has that much free, plus
    ``RESERVE``. Cost: one stat and one statvfs per path."""
    if os.environ.get(CHECK_ENV, "").lower() in ("off", "0", "no", "false"):
        return
    groups: dict[int, list[Path]] = {}
    for path in needs:
        groups.setdefault(existing(path).stat().st_dev, []).append(path)
    for paths in groups.values():
        needed = sum(needs[p] for p in paths)
        if needed <= 0:
            continue
        free = free_bytes(paths[0])
        if needed + RESERVE <= free:
            continue
        where = " and ".join(_names(p for p in paths if needs[p] > 0))
        raise DiskFull(
            f"not enough disk space for {what}: it needs about {size_text(needed)} under {where}"
            f" (an estimate), and that filesystem has {size_text(free)} free",
            path=str(paths[0]),
            needed=needed,
            free=free,
            hint=f"free {size_text(needed + RESERVE - free)} or more: `podlock prune` removes the "
            "cached wheels, trees and layers no build used lately (`--older-than 0`: all), or "
            f"set PODLOCK_CACHE_DIR to a larger disk; {CHECK_ENV}=off skips this check",
        )
