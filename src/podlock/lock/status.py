"""Is a variant's lock up to date with its inputs? Answered offline: one read, one hash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from podlock.errors import LockError
from podlock.inputs.config import VariantConfig
from podlock.inputs.discover import Inputs
from podlock.lock.fingerprint import fingerprint_of, input_digests, what_changed
from podlock.lock.pylock import LoadedLock, read_lock
from podlock.paths import lock_path

LockState = Literal["ok", "missing", "stale", "corrupt"]


@dataclass(frozen=True, kw_only=True)
class LockStatus:
    """Whether ``path`` is an up-to-date lock for ``variant`` (checked without network)."""

    variant: str
    path: Path
    state: LockState
    reason: str = ""
    loaded: LoadedLock | None = None  # the lock as read; None when missing or corrupt

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def check(inputs: Inputs, variants: Sequence[VariantConfig]) -> list[LockStatus]:
    """Each variant's lock state. Cost: one file read and one hash per variant.

    A status carries the lock it read, so callers need not read and validate it again.
    """
    out: list[LockStatus] = []
    for variant in variants:
        path = lock_path(inputs.root, variant.name)
        try:
            loaded = read_lock(path)
        except LockError as exc:
            state: LockState = "missing" if not path.exists() else "corrupt"
            out.append(LockStatus(variant=variant.name, path=path, state=state, reason=exc.message))
            continue
        state, reason = "stale", ""
        digests = input_digests(inputs, variant)
        if loaded.meta.variant != variant.name:
            reason = f"it is a lock for variant {loaded.meta.variant!r}"
        elif loaded.meta.fingerprint != fingerprint_of(digests):
            reason = what_changed(loaded.meta.inputs, digests, inputs.config)
        elif loaded.meta.system_packages and not loaded.meta.system:
            reason = "its system packages are not locked as .debs (an older podlock wrote it)"
        else:
            state = "ok"
        out.append(
            LockStatus(variant=variant.name, path=path, state=state, reason=reason, loaded=loaded)
        )
    return out
