"""Progress and warnings leave the core through a Reporter; the core never prints."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def info(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...


class NullReporter:
    """The default: says nothing."""

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


class ListReporter:
    """Collects messages; for tests and for callers that render them later."""

    def __init__(self) -> None:
        self.infos: list[str] = []
        self.warnings: list[str] = []

    def info(self, message: str) -> None:
        self.infos.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
