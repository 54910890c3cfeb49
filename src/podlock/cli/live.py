"""The terminal's reporter: one redrawing ``rich`` display of the running tasks (bytes with
amount, rate and ETA; items as counts; spinners for tasks of unknown size), with messages
printed above it. Only the CLI imports this module."""

from __future__ import annotations

import threading
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Task as TaskState
from rich.text import Text

from podlock.cli.progress import PREFIX, amount
from podlock.reporter import Task, Unit


class AmountColumn(ProgressColumn):
    """Bytes as ``3.1/27.7 MB``, items as ``3/12``; the amount so far when the total is unknown."""

    def __init__(self) -> None:
        super().__init__()
        self.by_bytes, self.by_items = DownloadColumn(), MofNCompleteColumn()

    def render(self, task: TaskState) -> Text:
        unit = task.fields.get("unit", "items")
        if task.total is None:
            return Text(amount(task.completed, unit) if task.completed else "")
        return _text((self.by_bytes if unit == "bytes" else self.by_items).render(task))


class RateColumn(ProgressColumn):
    """The transfer rate, for byte tasks only."""

    def __init__(self) -> None:
        super().__init__()
        self.speed = TransferSpeedColumn()

    def render(self, task: TaskState) -> Text:
        return _text(self.speed.render(task)) if task.fields.get("unit") == "bytes" else Text("")


def _text(rendered: object) -> Text:
    return rendered if isinstance(rendered, Text) else Text(str(rendered))


class RichTask:
    def __init__(self, owner: RichReporter, task_id: TaskID) -> None:
        self.owner, self.task_id = owner, task_id

    def advance(self, amount: int = 1) -> None:
        self.owner.progress.advance(self.task_id, amount)

    def done(self, message: str = "") -> None:
        self.owner.finish(self.task_id, message)


class RichReporter:
    """Running tasks share one live display, started with the first and stopped with the
    last; a finished task leaves it (its message, if any, stays above)."""

    def __init__(self, stream: IO[str]) -> None:
        self.console = Console(file=stream, highlight=False)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            AmountColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            refresh_per_second=10,
        )
        self._open = 0
        self._lock = threading.Lock()

    def info(self, message: str) -> None:
        self.console.print(f"{PREFIX}{message}", markup=False)

    def warn(self, message: str) -> None:
        self.console.print(f"{PREFIX}warning: {message}", markup=False, style="yellow")

    def task(self, description: str, *, total: int | None = None, unit: Unit = "items") -> Task:
        with self._lock:
            if self._open == 0:
                self.progress.start()
            self._open += 1
            task_id = self.progress.add_task(description, total=total, unit=unit)
            self.progress.refresh()  # drawn at once, however short the task
        return RichTask(self, task_id)

    def finish(self, task_id: TaskID, message: str) -> None:
        with self._lock:
            if task_id not in self.progress.task_ids:
                return
            self.progress.refresh()  # its last amount is seen before it goes
            self.progress.remove_task(task_id)
            self._open -= 1
            if self._open == 0:
                self.progress.stop()
        if message:
            self.info(message)

    def close(self) -> None:
        """Stop the display (after an error, tasks may be left open)."""
        with self._lock:
            self._open = 0
            self.progress.stop()
