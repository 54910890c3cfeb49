"""The time code waits by: the launcher's polling, log-stream retries and pending timeouts.

Code that waits takes a ``Clock`` instead of calling ``time`` itself, so that a test can
run it against a fake cluster on fake time: there ``sleep`` moves the clock on at once.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since an arbitrary point; only differences mean anything."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``time.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM = SystemClock()
