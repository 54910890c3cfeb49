"""Reading the code package's files, bounded: size limits checked from the stat walk before
any file is read, secrets looked for in the head of text files only, hashes streamed.

A project keeps data next to its code (``data/``, ``checkpoints/``, a cache not in
``.gitignore``); reading all of it to scan for secrets took minutes and shipped it in the
code layer. So a package over its limits is refused from ``lstat`` sizes alone, naming its
largest directories and the fix; a file's content rules see its first ``SCAN_BYTES`` (keys
and tokens sit in config and source files, which are small), and a binary (a NUL byte in
its first ``BINARY_PROBE`` bytes) is hashed but not scanned.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from podlock.disk import size_text
from podlock.errors import CodePackageTooLarge
from podlock.inputs.codeconfig import CodeConfig
from podlock.reporter import Reporter, Task, Unit

SCAN_BYTES = 512 * 1024  # how much of a text file the content rules read
BINARY_PROBE = 8 * 1024  # a NUL byte in this many first bytes: binary, not scanned
CHUNK_BYTES = 1024 * 1024  # hashing reads this much at a time
REPORT_FILES = 10_000  # a walk of more files than this shows progress
REPORT_BYTES = 64_000_000  # hashing more bytes than this shows progress
TOP = 5  # how many of the largest parts a refusal names

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


def secret_in(data: bytes) -> str | None:
    """The first content rule ``data`` matches, as ``secret: content holds <rule> (line N)``."""
    match = _CONTENT.search(data)
    if match is None or match.lastgroup is None:
        return None
    line = data.count(b"\n", 0, match.start()) + 1
    return f"secret: content holds {match.lastgroup.replace('_', '-')} (line {line})"


@dataclass(frozen=True, kw_only=True)
class FileScan:
    sha256: str
    size: int  # the bytes hashed
    secret: str | None  # what secret_in said of the scanned head; None for a binary


class NotRegular(Exception):
    """The path became a symlink (or another non-file) after it was listed."""


def scan_file(path: Path, progress: Task) -> FileScan:
    """Hash ``path`` in chunks and run the content rules over its head if it is text.
    Cost: one read of the file; memory bounded by SCAN_BYTES; a symlink is not followed."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegular(str(path)) from None
        raise
    with os.fdopen(fd, "rb") as f:
        head = f.read(SCAN_BYTES)
        digest = hashlib.sha256(head)
        size = len(head)
        progress.advance(len(head))
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
            progress.advance(len(chunk))
    binary = b"\0" in head[:BINARY_PROBE]
    return FileScan(
        sha256=digest.hexdigest(), size=size, secret=None if binary else secret_in(head)
    )


def check_limits(sizes: Sequence[tuple[str, int]], config: CodeConfig) -> None:
    """Refuse a package over ``config``'s limits (paths in ``include-large`` aside), naming
    its largest top-level parts and the fix. Cost: nothing beyond the sizes given."""
    counted = [(p, s) for p, s in sizes if not config.large_allowed(p)]
    total = sum(s for _, s in counted)
    big = sorted(((p, s) for p, s in counted if s > config.max_file_size), key=_largest_first)
    if total <= config.max_size and not big:
        return
    groups = _groups(counted)
    problems = []
    if total > config.max_size:
        problems.append(
            f"{size_text(total)} in {_files(len(counted))}, "
            f"over the {size_text(config.max_size)} limit"
        )
    if big:
        problems.append(
            f"{_files(len(big))} over the {size_text(config.max_file_size)} limit for one file"
        )
    lines = [f"the code package is too large: {'; '.join(problems)}; largest:"]
    lines += [f"  {name}  {size_text(size)} ({_files(n)})" for name, size, n in groups[:TOP]]
    if big:
        lines.append(f"over {size_text(config.max_file_size)}:")
        lines += [f"  {p}  {size_text(s)}" for p, s in big[:TOP]]
        lines += [f"  ... and {_files(len(big) - TOP)} more"] if len(big) > TOP else []
    named = _toml_list(_suggested(groups, big, total, config.max_size))
    raise CodePackageTooLarge(
        "\n".join(lines),
        total=total,
        largest=[(name, size) for name, size, _ in groups[:TOP]],
        hint=f"keep data out of the image: add it to .gitignore, or exclude = {named} in the "
        f"podlock config; or ship it anyway with include-large = {named}; the limits are "
        "[code] max-size and max-file-size",
    )


def _groups(sizes: Sequence[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """(top-level directory as ``dir/``, or top-level file; bytes; files), largest first."""
    totals: dict[str, tuple[int, int]] = {}
    for path, size in sizes:
        size_so_far, count = totals.get(_top(path), (0, 0))
        totals[_top(path)] = (size_so_far + size, count + 1)
    ordered = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    return [(name, size, count) for name, (size, count) in ordered]


def _suggested(
    groups: list[tuple[str, int, int]], big: list[tuple[str, int]], total: int, max_size: int
) -> list[str]:
    """The parts to name in the hint: those holding a file over its limit, then the largest
    until what is left fits."""
    holding = {_top(p) for p, _ in big}
    chosen = [name for name, _, _ in groups if name in holding]
    left = total - sum(size for name, size, _ in groups if name in holding)
    for name, size, _ in groups:
        if left <= max_size or len(chosen) >= 3:
            break
        if name not in chosen:
            chosen.append(name)
            left -= size
    return chosen[:3]


def _top(path: str) -> str:
    head, sep, _ = path.partition("/")
    return f"{head}/" if sep else head


def _largest_first(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


class LazyTask:
    """A reporter task that shows itself only once the work passes ``after`` (files or bytes):
    a small project's package says nothing, a big walk or hash shows progress."""

    def __init__(
        self,
        reporter: Reporter,
        description: str,
        *,
        after: int,
        total: int | None = None,
        unit: Unit = "items",
    ) -> None:
        self.reporter, self.description, self.after = reporter, description, after
        self.total, self.unit = total, unit
        self.count = 0
        self.task: Task | None = None
        if total is not None and total > after:
            self.task = reporter.task(description, total=total, unit=unit)

    def advance(self, amount: int = 1) -> None:
        self.count += amount
        if self.task is not None:
            self.task.advance(amount)
        elif self.count > self.after:
            self.task = self.reporter.task(self.description, total=self.total, unit=self.unit)
            self.task.advance(self.count)

    def done(self, message: str = "") -> None:
        if self.task is not None:
            self.task.done(message)
