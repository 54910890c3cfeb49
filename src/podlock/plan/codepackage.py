"""The code package: which project files go into the image, and which are kept out and why.

Inside a git work tree it is what git knows (tracked files plus untracked ones that are not
ignored); elsewhere every file minus the root ``.gitignore``'s patterns. Secrets are never
included, whatever git says: by name (``.env*``, keys, credential files) and by content (a
PEM private key, a service-account JSON ``private_key``, AWS/GitHub/GitLab/PyPI token
shapes, wherever they are). Each is listed as excluded with the rule that matched, so that
``podlock package list`` shows the decision; ``include-secrets`` in the config names the
paths that go in anyway.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from podlock.errors import ToolError
from podlock.process import run

# Matched against each path component's name (so `.ssh/id_rsa` and `id_rsa` both match).
SECRET_NAMES = (
    ".env", ".env.*", "*.env", "*.pem", "*.key", "id_rsa*", "id_dsa*", "id_ecdsa*",
    "id_ed25519*", "*.p12", "*.pfx", "*.jks", "*.keystore", ".netrc", "_netrc", ".pypirc",
    ".npmrc", ".git-credentials", "credentials", "credentials.json", "*credentials*.json",
    "service-account*.json", "*.kubeconfig", ".htpasswd",
)  # fmt: skip
SECRET_DIRS = (".ssh", ".aws", ".gnupg", ".docker", ".kube")
# Secrets by content, one named rule each (the name is what `package list` shows). Shapes
# with a fixed prefix and length, so a word in prose does not match.
CONTENT_RULES: tuple[tuple[str, bytes], ...] = (
    ("private-key", rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    ("service-account-key", rb'"private_key"\s*:\s*"[^"\s]'),
    ("aws-access-key", rb"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ("github-token", rb"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_\w{22,})"),
    ("gitlab-token", rb"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}"),
    ("pypi-token", rb"(?<![A-Za-z0-9_-])pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{16,}"),
)
_CONTENT = re.compile(
    b"|".join(b"(?P<%s>%s)" % (name.replace("-", "_").encode(), rx) for name, rx in CONTENT_RULES)
)
ALWAYS_SKIPPED = (".git", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache")
LOCK_GLOB = "pylock.*.toml"
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
    root: Path, *, name: str | None = None, include_secrets: Sequence[str] = ()
) -> CodePackage:
    """Walk ``root`` (or ask git); cost: reading, scanning and hashing every file once.
    ``include_secrets``: paths or globs (relative to root) that no secret rule keeps out."""
    root = root.resolve()
    revision = None
    source: CodeSource
    try:
        listed = _git_files(root)
        source = "git"
        revision = _git_head(root)
    except ToolError:
        listed = _walk(root)
        source = "directory"
    files: list[CodeFile] = []
    excluded: list[Excluded] = []
    overridden: list[Excluded] = []
    for rel in sorted(set(listed)):
        allowed = _listed(rel, include_secrets)
        reason = exclusion(rel)
        if reason and not (allowed and reason.startswith("secret")):
            excluded.append(Excluded(path=rel, reason=reason))
            continue
        path = root / rel
        try:
            st = path.lstat()
        except FileNotFoundError:  # tracked but deleted in the work tree
            continue
        if not stat.S_ISREG(st.st_mode):
            excluded.append(Excluded(path=rel, reason="not a regular file"))
            continue
        data = path.read_bytes()
        reason = reason or secret_in(data)
        if reason:
            if not allowed:
                excluded.append(Excluded(path=rel, reason=reason))
                continue
            overridden.append(Excluded(path=rel, reason=reason))
        files.append(
            CodeFile(
                path=rel,
                size=st.st_size,
                sha256=hashlib.sha256(data).hexdigest(),
                executable=bool(st.st_mode & 0o111),
            )
        )
    return CodePackage(
        name=name or root.name,
        root=root,
        source=source,
        files=tuple(files),
        excluded=tuple(excluded),
        included_secrets=tuple(overridden),
        revision=revision,
    )


def secret_in(data: bytes) -> str | None:
    """The first content rule ``data`` matches, as ``secret: content holds <rule> (line N)``."""
    match = _CONTENT.search(data)
    if match is None or match.lastgroup is None:
        return None
    line = data.count(b"\n", 0, match.start()) + 1
    return f"secret: content holds {match.lastgroup.replace('_', '-')} (line {line})"


def _listed(rel: str, patterns: Sequence[str]) -> bool:
    return any(rel == p.strip("/") or fnmatch.fnmatchcase(rel, p) for p in patterns)


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


def _walk(root: Path) -> list[str]:
    patterns = _gitignore(root)
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in ALWAYS_SKIPPED and not _ignored(_join(rel_dir, d), True, patterns)
        )
        for f in sorted(filenames):
            rel = _join(rel_dir, f)
            if not _skipped(rel) and not _ignored(rel, False, patterns):
                out.append(rel)
    return out


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
