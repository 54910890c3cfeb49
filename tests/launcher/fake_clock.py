"""Fake time for the fake Kubernetes API and the launcher that watches it.

The clock moves only when told: the launcher's ``sleep`` moves it on at once (its poll
loops run without waiting), a test moves it with ``advance``. The fake cluster reads it to
move pods and Kueue admissions on, so a test of a job that runs for 0.3 s takes no 0.3 s.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable


class FakeClock:
    """A ``podlock.clock.Clock`` that a test drives; ``after`` runs a callback when time
    passes a point (in the thread that moved the clock there)."""

    def __init__(self) -> None:
        self._now = 0.0
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._moved = threading.Condition()

    def now(self) -> float:
        with self._moved:
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._moved:
            self._now += max(seconds, 0.0)
            due = sorted(d for d in self._due if d[0] <= self._now)
            self._due = [d for d in self._due if d[0] > self._now]
            self._moved.notify_all()
        for _at, _n, callback in due:  # outside the lock: a callback may read the clock
            callback()

    def after(self, seconds: float, callback: Callable[[], None]) -> None:
        with self._moved:
            self._due.append((self._now + seconds, next(self._order), callback))

    def wait(self, since: float, *, timeout: float) -> None:
        """Until the clock has moved past ``since``, or ``timeout`` real seconds passed (for
        what changes without moving it, such as a deletion)."""
        with self._moved:
            self._moved.wait_for(lambda: self._now > since, timeout)
