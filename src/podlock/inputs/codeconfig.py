"""What the config says about the code package: the paths kept out (``exclude``), those let in
although a rule would keep them out (``include-secrets``, ``include-large``), and the size
limits (``[code] max-size``, ``max-file-size``).

A pattern names a path relative to the project root, or a glob (``fnmatch``: ``*`` also
matches ``/``); a pattern that names a directory names everything below it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podlock.errors import ConfigError
from podlock.inputs.tables import check_keys, str_list, subtable

# Defaults chosen so that code ships and data does not: a repository's source rarely passes
# a few MB, while one checkpoint or shard passes 10 MB.
MAX_SIZE = 100_000_000
MAX_FILE_SIZE = 10_000_000
CODE_KEYS = {"max-size", "max-file-size"}
_UNITS = {
    "": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class CodeConfig:
    """The code package's rules from the config; the defaults when it says nothing."""

    include_secrets: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include_large: tuple[str, ...] = ()
    max_size: int = MAX_SIZE  # bytes, all files together (those in include-large aside)
    max_file_size: int = MAX_FILE_SIZE  # bytes, any one file (those in include-large aside)

    def excludes(self, path: str) -> bool:
        """Whether ``exclude`` names ``path`` itself (a file, or a directory without the
        trailing slash); the caller asks for each directory on the way down."""
        return names(path, self.exclude)

    def secret_allowed(self, path: str) -> bool:
        return matches(path, self.include_secrets)

    def large_allowed(self, path: str) -> bool:
        return matches(path, self.include_large)


def names(path: str, patterns: Sequence[str]) -> bool:
    """Whether one of ``patterns`` names ``path`` itself (no directory above it)."""
    for pattern in patterns:
        pattern = pattern.removeprefix("./").strip("/")
        if path == pattern or fnmatch.fnmatchcase(path, pattern):
            return True
    return False


def matches(path: str, patterns: Sequence[str]) -> bool:
    """Whether one of ``patterns`` names ``path`` or a directory above it."""
    parts = path.split("/")
    return any(names("/".join(parts[:i]), patterns) for i in range(1, len(parts) + 1))


def parse_size(value: Any) -> int:
    """Bytes from ``"100MB"``, ``"1.5 GiB"`` or an integer; ValueError says what is wrong.
    kB/MB/GB are powers of 1000 (as podlock prints sizes), KiB/MiB/GiB of 1024."""
    if isinstance(value, int) and not isinstance(value, bool):
        number, unit = float(value), ""
    elif isinstance(value, str) and (m := _SIZE.fullmatch(value)):
        number, unit = float(m.group(1)), m.group(2).lower()
    else:
        raise ValueError(f"{value!r} is not a size")
    if unit not in _UNITS:
        raise ValueError(f"{value!r} has an unknown unit {unit!r}")
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"{value!r} is not a positive size")
    return size


def load_code_config(table: Mapping[str, Any], *, file: str | None) -> CodeConfig:
    """The code-package keys of a ``[tool.podlock]`` table (or a whole ``podlock.toml``)."""
    code = subtable(table, "code", file)
    check_keys(code, CODE_KEYS, file=file, prefix="code.")
    return CodeConfig(
        include_secrets=_patterns(table, "include-secrets", file),
        exclude=_patterns(table, "exclude", file),
        include_large=_patterns(table, "include-large", file),
        max_size=_size(code, "max-size", MAX_SIZE, file),
        max_file_size=_size(code, "max-file-size", MAX_FILE_SIZE, file),
    )


def _patterns(table: Mapping[str, Any], key: str, file: str | None) -> tuple[str, ...]:
    patterns = tuple(str_list(table, key, file))
    for pattern in patterns:
        if not pattern.removeprefix("./").strip("/") or pattern.startswith("../"):
            raise ConfigError(
                f"{key}: {pattern!r} names no path inside the project",
                file=file,
                hint='paths and globs are relative to the project root, e.g. "data/"',
            )
    return patterns


def _size(table: Mapping[str, Any], key: str, default: int, file: str | None) -> int:
    if key not in table:
        return default
    try:
        return parse_size(table[key])
    except ValueError as exc:
        raise ConfigError(
            f"code.{key}: {exc}",
            file=file,
            hint='a size such as "100MB", "1.5GB", "512MiB" or a number of bytes',
        ) from None
