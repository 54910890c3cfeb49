"""Installed wheels, cached one tree per wheel, from which wheel layers are written.

A wheel installed for a given Python into a given venv, with its bytecode, is the same
files every time: the tree is a function of the wheel's sha256, the venv, the Python X.Y
and the compiling CPython's patch version. So it is built once (install + compile, the
slow part of a layer: ~11 s of the 14 s cold build of bench/ml-project) and kept under
podlock's cache dir; a layer is then only tar + compression over the trees of its wheels,
which is the issue's floor. The same idea as uv's unpacked-wheel cache.

A tree is built in a scratch directory and renamed into place, so a crash leaves no half
tree; each carries a manifest (file count and bytes) checked on use, so a tree damaged
since (a file deleted by hand) is rebuilt instead of silently shipped.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from podlock.atomic import place_directory
from podlock.disk import full_disk
from podlock.errors import DiskFull, HashMismatch, ToolError
from podlock.layers.install import Target, compile_bytecode, install_wheels
from podlock.layers.tarlayer import Entry, LayerError, tree
from podlock.paths import cache_dir, mark_used
from podlock.plan.layerplan import Wheel
from podlock.registry.model import canonical
from podlock.reporter import Reporter

TREE_VERSION = 1  # bump when the files installed from the same wheel change
_MANIFEST = ".podlock-tree.json"


def trees_root() -> Path:
    """Where the installed trees live, one directory per ``tree_key``."""
    return cache_dir() / "oci" / "installed"


def tree_key(wheel: Wheel, target: Target, compiler_version: str | None) -> str:
    parts = {
        "podlock-installed-tree": TREE_VERSION,
        "wheel": wheel.sha256,
        "python": target.python,
        "venv": target.venv,
        "compiler": compiler_version,
    }
    return hashlib.sha256(canonical(parts)).hexdigest()


def has_tree(wheel: Wheel, target: Target, compiler_version: str | None) -> bool:
    """Whether the tree cache holds ``wheel``'s tree (by its manifest: one stat, unchecked)."""
    return (trees_root() / tree_key(wheel, target, compiler_version) / _MANIFEST).is_file()


def wheel_entries(
    wheels: Sequence[Wheel],
    paths: Mapping[str, Path],
    target: Target,
    *,
    compiler: str | None,
    compiler_version: str | None,
    layer: str,
    reporter: Reporter,
) -> list[Entry]:
    """The entries of a layer holding ``wheels``: each wheel's cached tree (built now when
    missing), merged as pip would install them (``merge``)."""
    root = trees_root()
    key = {w.sha256: tree_key(w, target, compiler_version if compiler else None) for w in wheels}
    trees = {w.sha256: root / key[w.sha256] for w in wheels}
    found = {w.sha256: _entries(trees[w.sha256], layer) for w in wheels}
    missing = [w for w in wheels if found[w.sha256] is None]
    if missing:
        _build(missing, paths, trees, target, compiler=compiler, layer=layer, reporter=reporter)
        found.update({w.sha256: _entries(trees[w.sha256], layer) for w in missing})
    trees_of = []
    for wheel in wheels:
        entries = found[wheel.sha256]
        if entries is None:
            raise LayerError(f"layer {layer}: the installed tree of {wheel.filename} vanished")
        trees_of.append((wheel, entries))
    return merge(trees_of, layer=layer, reporter=reporter)


def install_order(wheel: Wheel) -> tuple[str, str]:
    """The sort key of pip's install order, last installed first: ``pip install --no-deps``
    installs a requirements file's packages in descending name order, so of several wheels
    shipping one path, the one whose name sorts first is installed last and wins."""
    return (canonicalize_name(wheel.package), wheel.filename)


def merge(
    trees_of: Sequence[tuple[Wheel, list[Entry]]], *, layer: str, reporter: Reporter
) -> list[Entry]:
    """Several wheels' trees as one layer, as pip would leave them: a path two wheels ship
    with the same bytes is written once; with different bytes the winner's copy (see
    ``install_order``) is kept, and a warning names the path and both wheels. A path that
    is a directory in one wheel and a file in another cannot be merged: an error."""
    winner: dict[str, tuple[Wheel, Entry]] = {}
    for wheel, entries in sorted(trees_of, key=lambda t: install_order(t[0])):
        for entry in entries:
            held = winner.get(entry.path)
            if held is None:
                winner[entry.path] = (wheel, entry)
            elif (entry.kind == "dir") != (held[1].kind == "dir"):
                raise LayerError(
                    f"layer {layer}: /{entry.path} is a directory in one wheel and a file in "
                    f"the other: {held[0].filename} and {wheel.filename}",
                    hint="these two packages cannot be installed together; drop one of them",
                )
            elif entry.kind != "dir" and not same_content(held[1], entry):
                if "/__pycache__/" in entry.path:
                    continue  # the bytecode of a source warned about: the winner's, silently
                reporter.warn(
                    f"layer {layer}: /{entry.path} is shipped by {held[0].filename} and "
                    f"{wheel.filename} with different contents; {held[0].package}'s copy is "
                    f"kept, as pip installs it last"
                )
    return [entry for _wheel, entry in winner.values()]


def same_content(a: Entry, b: Entry) -> bool:
    """Whether two entries put the same thing at one path (kind, mode, target, bytes)."""
    if (a.kind, a.mode, a.target) != (b.kind, b.mode, b.target):
        return False
    if a.kind != "file":
        return True
    if isinstance(a.source, Path) and isinstance(b.source, Path):
        return filecmp.cmp(a.source, b.source, shallow=False)  # sizes first, then bytes
    return _content(a) == _content(b)


def _content(entry: Entry) -> bytes:
    return entry.source.read_bytes() if isinstance(entry.source, Path) else entry.source or b""


def _entries(tree_dir: Path, layer: str) -> list[Entry] | None:
    """The tree's entries, or None when it is missing or no longer matches its manifest."""
    try:
        manifest = json.loads((tree_dir / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    entries = [e for e in tree(tree_dir, layer=layer) if e.path != _MANIFEST]
    if _summary(entries) != manifest:
        return None
    mark_used(tree_dir)
    return entries


def _summary(entries: Sequence[Entry]) -> dict[str, int]:
    files = [e.source for e in entries if isinstance(e.source, Path)]
    return {"entries": len(entries), "bytes": sum(p.lstat().st_size for p in files)}


def _verify(wheel: Wheel, path: Path) -> None:
    """The wheel file still has the lock's sha256 (it was checked when it was cached; a
    file changed since is dropped from the cache, so the next run downloads it again)."""
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
    if sha.hexdigest() != wheel.sha256:
        path.unlink(missing_ok=True)
        raise HashMismatch(
            package=wheel.package,
            url=wheel.url or wheel.filename,
            expected=[f"sha256:{wheel.sha256}"],
            got=[f"sha256:{sha.hexdigest()} in the wheel cache (removed; run again)"],
        )


def _build(
    wheels: Sequence[Wheel],
    paths: Mapping[str, Path],
    trees: Mapping[str, Path],
    target: Target,
    *,
    compiler: str | None,
    layer: str,
    reporter: Reporter,
) -> None:
    """Install each wheel into a scratch tree, compile them all in one pass, then move each
    into place (a tree another build finished first is kept). On any failure, a full disk
    included, the scratch trees are removed: the cache holds only whole trees."""
    scratch = cache_dir() / "oci" / "tmp"
    staged: dict[str, Path] = {}
    try:
        with full_disk(scratch):
            scratch.mkdir(parents=True, exist_ok=True)
            for wheel in wheels:
                _verify(wheel, paths[wheel.sha256])
                tmp = Path(tempfile.mkdtemp(dir=scratch, prefix=f"tree-{wheel.package}-"))
                staged[wheel.sha256] = tmp
                install_wheels([(wheel, paths[wheel.sha256])], tmp, target, layer=layer)
            _compile(list(staged.values()), target, compiler, reporter, scratch)
            for sha, tmp in staged.items():
                entries = tree(tmp, layer=layer)
                (tmp / _MANIFEST).write_text(json.dumps(_summary(entries)))
                _place(tmp, trees[sha], layer)
    finally:
        for tmp in staged.values():
            shutil.rmtree(tmp, ignore_errors=True)


def _place(tmp: Path, dest: Path, layer: str) -> None:
    """Rename the finished tree ``tmp`` to ``dest`` (a tree another build finished first is
    kept; a damaged one is replaced)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        if _entries(dest, layer) is not None:
            return  # another build (thread or process) finished it first: keep it
        shutil.rmtree(dest, ignore_errors=True)  # damaged (it failed its check)
    place_directory(tmp, dest, finished=lambda d: (d / _MANIFEST).exists())


def _compile(
    roots: list[Path], target: Target, compiler: str | None, reporter: Reporter, scratch: Path
) -> None:
    """``compile_bytecode``, a child that ran out of disk reported as the full disk it is."""
    try:
        compile_bytecode(roots, target, compiler, reporter)
    except ToolError as exc:
        if "No space left on device" not in exc.output and "Disk quota" not in exc.output:
            raise
        raise DiskFull(
            f"the disk is full: compiling bytecode under {scratch} failed; the filesystem of "
            f"{scratch} cannot hold this build. Partial files were removed",
            path=str(scratch),
        ) from exc
