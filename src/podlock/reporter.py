"""Progress and warnings leave the core through a Reporter; the core never prints.

A long step is a ``task``: the core says what it is and, when known, how much there is
(bytes or items), advances it as work is done (from any thread) and marks it done. How it
is shown (a redrawing bar on a terminal, a few plain lines in a log, nothing) is the
reporter's business; only the CLI's reporters know about terminals.
"""

from __future__ import annotations

from typing import Literal, Protocol

Unit = Literal["bytes", "items"]


class Task(Protocol):
    def advance(self, amount: int = 1) -> None: ...

    def done(self, message: str = "") -> None:
        """Finished; ``message``, if any, is said once as the task's last word."""


class Reporter(Protocol):
    def info(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...

    def task(self, description: str, *, total: int | None = None, unit: Unit = "items") -> Task:
        """Start a task; ``total`` None: its size is unknown (a spinner, not a bar)."""
        ...


class NullTask:
    def advance(self, amount: int = 1) -> None:
        pass

    def done(self, message: str = "") -> None:
        pass


class NullReporter:
    """The default: says nothing."""

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def task(self, description: str, *, total: int | None = None, unit: Unit = "items") -> Task:
        return NullTask()


class ListTask:
    def __init__(self, owner: ListReporter, description: str, total: int | None) -> None:
        self.owner, self.description, self.total = owner, description, total
        self.completed = 0
        self.finished = False

    def advance(self, amount: int = 1) -> None:
        self.completed += amount

    def done(self, message: str = "") -> None:
        self.finished = True
        if message:
            self.owner.infos.append(message)


class ListReporter:
    """Collects messages and tasks; for tests and for callers that render them later."""

    def __init__(self) -> None:
        self.infos: list[str] = []
        self.warnings: list[str] = []
        self.tasks: list[ListTask] = []

    def info(self, message: str) -> None:
        self.infos.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def task(self, description: str, *, total: int | None = None, unit: Unit = "items") -> Task:
        task = ListTask(self, description, total)
        self.tasks.append(task)
        return task
