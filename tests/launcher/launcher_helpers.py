"""Helpers for the launcher tests (a unique module name: conftest.py names collide)."""

from __future__ import annotations

from pathlib import Path

import testkit
from testkit import podlock

__all__ = ["podlock"]

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
DIGEST = "sha256:" + "0123456789abcdef" * 4
# Port 9 (discard) refuses connections at once: the registry check answers "cannot tell".
UNREACHABLE_IMAGE = f"127.0.0.1:9/team/app@{DIGEST}"


def check_golden(name: str, text: str) -> None:
    """Compare with tests/launcher/golden/NAME; PODLOCK_REGEN_GOLDEN=1 rewrites it."""
    testkit.check_golden(GOLDEN / name, text)
