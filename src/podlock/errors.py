"""The one root exception and its structured subclasses.

The CLI renders every PodlockError in one place: ``str(err)`` says what went wrong and
where, ``err.hint`` says what to do. Nothing here prints.
"""

from __future__ import annotations


class PodlockError(Exception):
    """Root of every error podlock reports to a user."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(PodlockError):
    """A requirements file, pyproject or config that podlock cannot use."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.file = file
        self.line = line


class ConfigError(InputError):
    """An invalid or unknown key in ``[tool.podlock]`` / ``podlock.toml``."""


class ResolutionError(PodlockError):
    """The resolver found no set of versions; ``explanation`` is the resolver's own."""

    def __init__(self, message: str, *, explanation: str, hint: str | None = None) -> None:
        super().__init__(f"{message}\n{explanation}".rstrip(), hint=hint)
        self.explanation = explanation


class IndexError_(PodlockError):
    """A package index that could not be reached or answered wrongly (URL redacted)."""

    def __init__(self, message: str, *, index: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.index = index


class HashMismatch(PodlockError):
    """An artifact whose hash is not the one that was asked for or recorded."""

    def __init__(
        self,
        *,
        package: str,
        url: str,
        expected: list[str],
        got: list[str],
        hint: str = "check the --hash pins in your requirements, or the index serving this file",
    ) -> None:
        super().__init__(
            f"hash mismatch for {package}: {url} has {_few(got) or 'no hash'}, "
            f"expected {_few(expected, ' or ')}",
            hint=hint,
        )
        self.package = package
        self.url = url
        self.expected = expected
        self.got = got


def _few(digests: list[str], sep: str = ", ") -> str:
    """Up to three digests, and how many more (a pip-compile line pins one per wheel)."""
    more = f" ({len(digests) - 3} more)" if len(digests) > 3 else ""
    return sep.join(digests[:3]) + more


class LockError(PodlockError):
    """A lock file that is missing, corrupt or stale."""

    exit_code = 1

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(f"{path}: {message}", hint=hint)
        self.path = path


class ToolError(PodlockError):
    """An external program (uv, docker, ...) that failed; argv and output already redacted."""

    def __init__(self, message: str, *, argv: list[str], output: str) -> None:
        super().__init__(message)
        self.argv = argv
        self.output = output


class CodePackageTooLarge(PodlockError):
    """A code package over its size limits, refused from a stat walk, before any file is read.
    ``largest``: (path, bytes), a top-level directory's path ending in ``/``, largest first."""

    def __init__(
        self, message: str, *, total: int, largest: list[tuple[str, int]], hint: str
    ) -> None:
        super().__init__(message, hint=hint)
        self.total = total
        self.largest = largest


class DiskFull(PodlockError):
    """A filesystem that cannot hold what a build writes: before it starts (``needed`` and
    ``free`` known) or when a write failed with ENOSPC (they may be None)."""

    def __init__(
        self,
        message: str,
        *,
        path: str,
        needed: int | None = None,
        free: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(
            message,
            hint=hint
            or "free some disk space (`podlock prune` removes the cached wheels, trees and "
            "layers no build used lately) or set PODLOCK_CACHE_DIR to a larger disk, then "
            "run again",
        )
        self.path = path
        self.needed = needed
        self.free = free
