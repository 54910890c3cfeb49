"""``[launch]``: what ``podlock launch`` (and ``render --project``) submit by default.

None of it is a lock input: changing it never makes a lock stale. The capacity order is
kept as written and checked by the launcher (which knows the kinds), with this file named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podlock.errors import ConfigError
from podlock.inputs.tables import check_keys, opt_str, subtable

_KEYS = {"queue", "capacity", "max-restarts", "priority"}


@dataclass(frozen=True, kw_only=True)
class LaunchConfig:
    queue: str | None = None  # the Kueue LocalQueue `launch` submits to
    capacity: str | None = None  # e.g. "reservation:r1,spot": a fallback order
    max_restarts: int | None = None
    priority: str | None = None  # a PriorityClass, or a WorkloadPriorityClass when queued


def load_launch_config(table: Mapping[str, Any], *, file: str | None) -> LaunchConfig:
    launch = subtable(table, "launch", file)
    check_keys(launch, _KEYS, file=file, prefix="launch.")
    restarts = launch.get("max-restarts")
    if restarts is not None and (
        isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 0
    ):
        raise ConfigError(
            f"launch.max-restarts must be a whole number of restarts (0 or more), got {restarts!r}",
            file=file,
            hint="e.g. [launch] max-restarts = 3",
        )
    return LaunchConfig(
        queue=opt_str(launch, "queue", file),
        capacity=opt_str(launch, "capacity", file),
        max_restarts=restarts,
        priority=opt_str(launch, "priority", file),
    )
