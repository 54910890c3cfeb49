"""The code package: which project files go into the image, and which are kept out and why.

Inside a git work tree it is what git knows (tracked files plus untracked ones that are not
ignored); elsewhere every file minus the root ``.gitignore``'s patterns; never podlock's
cache directory, nor the paths the config's ``exclude`` names. Secrets are never included,
whatever git says: by name (``.env*``, keys, credential files) and by content (the rules
in ``codescan``, over the head of each text file). Each is listed as excluded with the rule
that matched, so that ``podlock package list`` shows the decision; ``include-secrets`` in
the config names the paths that go in anyway. A package over its size limits is refused
from the stat walk, before any file is read (``codescan.check_limits``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from podlock.disk import size_text
from podlock.errors import ToolError
from podlock.inputs.codeconfig import CodeConfig
from podlock.paths import cache_dir
from podlock.plan.codescan import (
    REPORT_BYTES,
    REPORT_FILES,
    LazyTask,
    NotRegular,
    check_limits,
    scan_file,
)
from podlock.process import run
from podlock.reporter import NullReporter, Reporter

# Matched against each path component's name (so `.ssh/id_rsa` and `id_rsa` both match).
SECRET_NAMES = (
    ".env", ".env.*", "*.env", "*.pem", "*.key", "id_rsa*", "id_dsa*", "id_ecdsa*",
    "id_ed25519*", "*.p12", "*.pfx", "*.jks", "*.keystore", ".netrc", "_netrc", ".pypirc",
    ".npmrc", ".git-credentials", "credentials", "credentials.json", "*credentials*.json",
    "service-account*.json", "*.kubeconfig", ".htpasswd",
)  # fmt: skip
SECRET_DIRS = (".ssh", ".aws", ".gnupg", ".docker", ".kube")
ALWAYS_SKIPPED = (".git", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache")
LOCK_GLOB = "pylock.*.toml"
CACHE_REASON = "podlock cache directory"
CONFIG_REASON = "excluded by config"
# Where the file list came from: `git ls-files`, or a walk of the directory.
CodeSource = Literal["git", "directory"]


@dataclass(frozen=True, kw_only=True)
class CodeFile:
    path: str  # POSIX, relative to the project root
    size: int
    sha256: str
    executable: bool = False


@dataclass(frozen=True, kw_only=True)
class Excluded:
    path: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class CodePackage:
    """The project's files for the image, sorted by path."""

    name: str
    root: Path
    source: CodeSource
    files: tuple[CodeFile, ...]
    excluded: tuple[Excluded, ...] = ()
    # files a secret rule matched that go in anyway, named by ``include-secrets``
    included_secrets: tuple[Excluded, ...] = ()
    revision: str | None = None

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def digest(self) -> str:
        """``sha256:`` of the sorted listing (path, size, mode, content hash): the same
        files give the same digest on any machine, whatever their mtimes."""
        return files_digest(self.files)


def files_digest(files: tuple[CodeFile, ...] | list[CodeFile]) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        h.update(f"{f.sha256} {f.size} {'x' if f.executable else '-'} {f.path}\n".encode())
    return f"sha256:{h.hexdigest()}"


def collect(
    root: Path,
    config: CodeConfig | None = None,
    *,
    name: str | None = None,
    reporter: Reporter | None = None,
) -> CodePackage:
    """The project's code package, by ``config``'s rules (the defaults when None).

    Cost: ``git ls-files`` (or a directory walk) and one ``lstat`` per file; then, only if
    the package is within the limits, one streamed read of each file to hash it (the content
    rules see the head of text files). A package over the limits raises CodePackageTooLarge
    before any file is read."""
    config = config or CodeConfig()
    reporter = reporter or NullReporter()
    root = root.resolve()
    listing = _list(root, config)
    candidates, excluded = _select(root, listing.paths, config, reporter)
    check_limits([(c.path, c.size) for c in candidates], config)
    files, unreadable, overridden = _read(root, candidates, config, reporter)
    return CodePackage(
        name=name or root.name,
        root=root,
        source=listing.source,
        files=tuple(files),
        excluded=tuple(sorted([*listing.kept_out, *excluded, *unreadable], key=lambda e: e.path)),
        included_secrets=tuple(overridden),
        revision=listing.revision,
    )


@dataclass(frozen=True, kw_only=True)
class _Listing:
    source: CodeSource
    revision: str | None
    paths: list[str]  # the files to look at
    kept_out: list[Excluded]  # the cache dir and `exclude`d paths, once each (a dir as `dir/`)


@dataclass(frozen=True, kw_only=True)
class _Candidate:
    """A listed regular file, not yet read."""

    path: str
    size: int  # from lstat
    executable: bool
    secret_name: str | None  # the name rule it matched, when include-secrets lets it in


def _list(root: Path, config: CodeConfig) -> _Listing:
    cache = _inside(cache_dir(), root)
    try:
        listed = _git_files(root)
    except ToolError:
        walked, kept_out = _walk(root, config, cache)
        return _Listing(source="directory", revision=None, paths=walked, kept_out=kept_out)
    paths: list[str] = []
    units: dict[str, Excluded] = {}
    for rel in listed:
        unit = _kept_out(rel, config, cache)
        if unit is None:
            paths.append(rel)
        else:
            units.setdefault(unit.path, unit)
    return _Listing(
        source="git", revision=_git_head(root), paths=paths, kept_out=list(units.values())
    )


def _select(
    root: Path, paths: list[str], config: CodeConfig, reporter: Reporter
) -> tuple[list[_Candidate], list[Excluded]]:
    """The listed files that may go in, with their sizes, from names and lstat alone."""
    progress = LazyTask(reporter, "code package: listing files", after=REPORT_FILES)
    candidates: list[_Candidate] = []
    excluded: list[Excluded] = []
    for rel in sorted(set(paths)):
        progress.advance()
        reason = exclusion(rel)
        if reason and not (reason.startswith("secret") and config.secret_allowed(rel)):
            excluded.append(Excluded(path=rel, reason=reason))
            continue
        try:
            st = (root / rel).lstat()
        except FileNotFoundError:  # tracked but deleted in the work tree
            continue
        if not stat.S_ISREG(st.st_mode):
            excluded.append(Excluded(path=rel, reason="not a regular file"))
            continue
        candidates.append(
            _Candidate(
                path=rel,
                size=st.st_size,
                executable=bool(st.st_mode & 0o111),
                secret_name=reason,
            )
        )
    progress.done(f"code package: {len(candidates)} files listed")
    return candidates, excluded


def _read(
    root: Path, candidates: list[_Candidate], config: CodeConfig, reporter: Reporter
) -> tuple[list[CodeFile], list[Excluded], list[Excluded]]:
    """(files, excluded, secrets let in): each candidate hashed, its head scanned."""
    total = sum(c.size for c in candidates)
    progress = LazyTask(
        reporter,
        f"code package: hashing {len(candidates)} files",
        after=REPORT_BYTES,
        total=total,
        unit="bytes",
    )
    files: list[CodeFile] = []
    excluded: list[Excluded] = []
    overridden: list[Excluded] = []
    for c in candidates:
        try:
            scan = scan_file(root / c.path, progress)
        except FileNotFoundError:  # deleted since it was listed
            continue
        except NotRegular:
            excluded.append(Excluded(path=c.path, reason="not a regular file"))
            continue
        reason = c.secret_name or scan.secret
        if reason:
            if not config.secret_allowed(c.path):
                excluded.append(Excluded(path=c.path, reason=reason))
                continue
            overridden.append(Excluded(path=c.path, reason=reason))
        files.append(
            CodeFile(path=c.path, size=scan.size, sha256=scan.sha256, executable=c.executable)
        )
    progress.done(f"code package: {len(files)} files, {size_text(total)} hashed")
    return files, excluded, overridden


def _inside(path: Path, root: Path) -> str | None:
    """``path`` relative to ``root`` (POSIX) when it lies strictly inside it, else None."""
    try:
        rel = path.resolve().relative_to(root)
    except ValueError:
        return None
    return rel.as_posix() if rel.parts else None


def _kept_out(rel: str, config: CodeConfig, cache: str | None) -> Excluded | None:
    """``rel`` or the topmost directory above it that the cache dir or ``exclude`` keeps out."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        reason = _why_out(prefix, config, cache)
        if reason:
            return Excluded(path=f"{prefix}/" if i < len(parts) else prefix, reason=reason)
    return None


def _why_out(path: str, config: CodeConfig, cache: str | None) -> str | None:
    if path == cache:
        return CACHE_REASON
    if config.excludes(path):
        return CONFIG_REASON
    return None


def exclusion(rel: str) -> str | None:
    """Why ``rel`` never goes into an image, or None."""
    parts = PurePosixPath(rel).parts
    for part in parts[:-1]:
        if part in SECRET_DIRS:
            return f"secret: inside {part}/"
    base = parts[-1]
    for pattern in SECRET_NAMES:
        if fnmatch.fnmatchcase(base.lower(), pattern):
            return f"secret: matches {pattern}"
    if len(parts) == 1 and fnmatch.fnmatchcase(base, LOCK_GLOB):
        return "lock: the image gets it under /opt/podlock"
    return None


def _git_files(root: Path) -> list[str]:
    done = run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        timeout=60,
    )
    return [p for p in done.stdout.split("\0") if p and not _skipped(p)]


def _git_head(root: Path) -> str | None:
    done = run(["git", "-C", str(root), "rev-parse", "HEAD"], check=False, timeout=30)
    if done.returncode != 0:  # a repository without commits
        return None
    return done.stdout.strip() or None


def _skipped(rel: str) -> bool:
    return any(part in ALWAYS_SKIPPED for part in PurePosixPath(rel).parts) or rel.endswith(".pyc")


def _walk(root: Path, config: CodeConfig, cache: str | None) -> tuple[list[str], list[Excluded]]:
    """(files, paths kept out whole) of a directory that is not a git work tree; a directory
    kept out is not walked."""
    patterns = _gitignore(root)
    out: list[str] = []
    kept_out: list[Excluded] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        entries = [(d, True) for d in sorted(dirnames)] + [(f, False) for f in sorted(filenames)]
        dirnames.clear()
        for entry, is_dir in entries:
            rel = _join(rel_dir, entry)
            if _skipped(rel) or _ignored(rel, is_dir, patterns):
                continue
            reason = _why_out(rel, config, cache)
            if reason:
                kept_out.append(Excluded(path=f"{rel}/" if is_dir else rel, reason=reason))
            elif is_dir:
                dirnames.append(entry)
            else:
                out.append(rel)
    return out, kept_out


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a else b


def _gitignore(root: Path) -> list[tuple[str, bool, bool]]:
    """(pattern, negated, directory-only) from the root ``.gitignore``."""
    try:
        lines = (root / ".gitignore").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line.removeprefix("!")
        dir_only = line.endswith("/")
        pattern = line.strip("/") if line.startswith("/") else line.rstrip("/")
        out.append((pattern, negated, dir_only))
    return out


def _ignored(rel: str, is_dir: bool, patterns: list[tuple[str, bool, bool]]) -> bool:
    ignored = False
    name = rel.rsplit("/", 1)[-1]
    for pattern, negated, dir_only in patterns:
        if dir_only and not is_dir:
            continue
        anchored = "/" in pattern
        hit = fnmatch.fnmatchcase(rel, pattern) if anchored else fnmatch.fnmatchcase(name, pattern)
        if hit:
            ignored = not negated
    return ignored
