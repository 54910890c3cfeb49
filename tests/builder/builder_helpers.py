"""Helpers for the builder tests (a unique module name: conftest.py names collide)."""

from __future__ import annotations

from pathlib import Path

import testkit
from testkit import BASE_IMAGE, HELLO, docker, project_config

__all__ = ["BASE_IMAGE", "HELLO", "check_golden", "docker", "project_config"]

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    """Compare with tests/builder/golden/NAME; PODLOCK_REGEN_GOLDEN=1 rewrites it."""
    testkit.check_golden(GOLDEN / name, text)
