"""``podlock prune``: remove what podlock's caches, and the engine's layer images, hold that
no run has used lately.

Everything podlock reuses is marked when it is used (``mark_used`` sets its mtime to now):
a cached wheel, an installed tree, a daemonless layer (its memo, which names its blob), a
``podlock run`` venv, and each ``podlock-layers/*`` image a build stood on (a marker file
under ``<cache>/engine-layers``, since the engine keeps no time of use). ``prune`` removes
what was last used longer ago than the cut-off. A directory leaves its place by a rename
before it is deleted, so no build ever finds half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from podlock.builder.layerimages import LAYER_REPO, marker
from podlock.launcher.local import STAMP, venvs_root
from podlock.layers.installed import trees_root
from podlock.layers.system import deb_cache, unpacked_root
from podlock.layers.wheels import WheelCache
from podlock.oci.image import memos_root
from podlock.paths import cache_dir
from podlock.registry.blobs import BlobStore
from podlock.registry.model import hex_of

if TYPE_CHECKING:
    from podlock.engine import Engine

DAY = 86400.0


@dataclass(frozen=True, kw_only=True)
class Removed:
    what: str  # wheel, installed tree, deb, unpacked deb, layer blob, run venv, layer image
    name: str
    size: int | None  # bytes on disk; None where the engine decides (an image)


def prune(
    older_than_days: float,
    *,
    dry_run: bool = False,
    engine: Engine | None = None,
    now: float | None = None,
) -> list[Removed]:
    """Remove (or with ``dry_run`` only list) what was last used before the cut-off."""
    cutoff = (time.time() if now is None else now) - older_than_days * DAY
    root = cache_dir()
    removed: list[Removed] = []
    for what, path, used in _entries():
        if used < cutoff:
            removed.append(Removed(what=what, name=str(path.relative_to(root)), size=_size(path)))
            if not dry_run:
                _delete(path)
    removed += _layer_blobs(root, cutoff, dry_run)
    if engine is not None:
        removed += _layer_images(engine, cutoff, dry_run)
    return removed


def _entries() -> Iterator[tuple[str, Path, float]]:
    """(what, path, time of last use) of each prunable cache entry but layer blobs."""
    for sha_dir in _dirs(WheelCache().root, depth=2):
        files = [f for f in sha_dir.iterdir() if f.suffix == ".whl"]
        yield "wheel", sha_dir, max((_mtime(f) for f in files), default=_mtime(sha_dir))
    for tree in _dirs(trees_root(), depth=1):
        yield "installed tree", tree, _mtime(tree)
    for sha_dir in _dirs(deb_cache().root, depth=2):
        files = [f for f in sha_dir.iterdir() if f.suffix == ".deb"]
        yield "deb", sha_dir, max((_mtime(f) for f in files), default=_mtime(sha_dir))
    for unpacked in _dirs(unpacked_root(), depth=2):
        yield "unpacked deb", unpacked, _mtime(unpacked)
    for venv in _dirs(venvs_root(), depth=1):
        stamp = venv / STAMP
        yield "run venv", venv, _mtime(stamp) if stamp.exists() else _mtime(venv)


def _layer_blobs(root: Path, cutoff: float, dry_run: bool) -> list[Removed]:
    """Daemonless layers last used before the cut-off: the memo, and its blob unless a
    layer still kept names the same blob."""
    memos = sorted(memos_root().glob("*.json"))
    stale, kept = [], set()
    for memo in memos:
        digest = _memo_digest(memo)
        if _mtime(memo) < cutoff:
            stale.append((memo, digest))
        elif digest:
            kept.add(digest)
    out = []
    for memo, digest in stale:
        blob = BlobStore().path(digest) if digest else None
        size = blob.stat().st_size if blob and blob.is_file() else 0
        out.append(Removed(what="layer blob", name=str(memo.relative_to(root)), size=size))
        if not dry_run:
            memo.unlink(missing_ok=True)
            if blob and digest not in kept:
                blob.unlink(missing_ok=True)
    return out


def _layer_images(engine: Engine, cutoff: float, dry_run: bool) -> list[Removed]:
    """``podlock-layers/*`` tags last used before the cut-off. Removing a tag deletes the
    image only when nothing else stands on it; an image a kept one is built on stays."""
    out = []
    for tag, tagged in engine.tags(LAYER_REPO + "*"):
        used = _mtime(marker(tag)) if marker(tag).exists() else since(tagged)
        if used >= cutoff:
            continue
        out.append(Removed(what="layer image", name=tag, size=None))
        if not dry_run:
            engine.untag(tag)
            marker(tag).unlink(missing_ok=True)
    return out


def since(value: str) -> float:
    """The engine's ``LastTagTime`` (RFC 3339, nanoseconds) as a Unix time; 0 if unknown."""
    try:
        return datetime.fromisoformat(value[:26].rstrip("Z") + "+00:00").timestamp()
    except ValueError:
        return 0.0


def _dirs(root: Path, *, depth: int) -> Iterator[Path]:
    level = [root] if root.is_dir() else []
    for _ in range(depth):
        level = sorted(d for parent in level for d in parent.iterdir() if _is_entry(d))
    yield from level


def _is_entry(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and ".prune-" not in path.name


def _memo_digest(memo: Path) -> str:
    """The blob a layer record names ("" when it is unreadable or names no valid digest)."""
    try:
        digest = str(json.loads(memo.read_text()).get("digest") or "")
        hex_of(digest)
    except (OSError, ValueError, AttributeError):
        return ""
    return digest


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _delete(path: Path) -> None:
    """Out of its place first (one rename), then deleted."""
    gone = path.with_name(f"{path.name}.prune-{os.getpid()}")
    try:
        os.rename(path, gone)
    except OSError:
        return  # already gone, or in use elsewhere: left for the next prune
    shutil.rmtree(gone, ignore_errors=True)
