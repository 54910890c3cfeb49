"""The CLI's reporters: a redrawing ``rich`` display when stderr is a terminal (``live``),
plain lines (a few per task, no escape codes) when it is a pipe or a CI log. Warnings always print;
``--quiet`` silences the rest."""

from __future__ import annotations

import threading
import time
from typing import IO, Protocol

from podlock.reporter import NullTask, Reporter, Task, Unit

PREFIX = "podlock: "


class CliReporter(Reporter, Protocol):
    def close(self) -> None:
        """Stop any live display, so that what follows prints below it."""


def reporter_for(stream: IO[str], *, quiet: bool) -> CliReporter:
    """RichReporter on a terminal, else PlainReporter."""
    if not quiet and stream.isatty():
        from podlock.cli.live import RichReporter  # rich costs its import only on a terminal

        return RichReporter(stream)
    return PlainReporter(stream, quiet=quiet)


def amount(n: float, unit: Unit) -> str:
    return f"{n / 1e6:.1f} MB" if unit == "bytes" else f"{int(n)}"


class PlainTask:
    """Start and end lines, and at most one line per ``every`` seconds between them."""

    def __init__(
        self, out: PlainReporter, description: str, total: int | None, unit: Unit, every: float
    ) -> None:
        self.out, self.description, self.total, self.unit = out, description, total, unit
        self.every = every
        self.completed = 0
        self._start = self._last = time.monotonic()
        self._lock = threading.Lock()
        self._finished = False

    def advance(self, amount: int = 1) -> None:
        with self._lock:
            self.completed += amount
            now = time.monotonic()
            if now - self._last < self.every or self._finished:
                return
            self._last = now
            line = f"{self.description}: {self._so_far()}"
        self.out.info(line)

    def done(self, message: str = "") -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        if message:
            self.out.info(message)

    def _so_far(self) -> str:
        done = amount(self.completed, self.unit)
        if self.total is None:
            return done
        return f"{done}/{amount(self.total, self.unit)}"


class PlainReporter:
    """One ``podlock: ...`` line per message; a task's start is its description."""

    def __init__(self, stream: IO[str], *, quiet: bool = False, every: float = 10.0) -> None:
        self.stream, self.quiet, self.every = stream, quiet, every
        self._lock = threading.Lock()

    def info(self, message: str) -> None:
        if not self.quiet:
            self._write(f"{PREFIX}{message}")

    def warn(self, message: str) -> None:
        self._write(f"{PREFIX}warning: {message}")

    def task(self, description: str, *, total: int | None = None, unit: Unit = "items") -> Task:
        if self.quiet:
            return NullTask()
        size = f" ({amount(total, unit)})" if total is not None and unit == "bytes" else ""
        self.info(f"{description}{size}")
        return PlainTask(self, description, total, unit, self.every)

    def close(self) -> None:
        pass

    def _write(self, line: str) -> None:
        with self._lock:
            print(line, file=self.stream, flush=True)
