"""Helpers for the builder tests (a unique module name: conftest.py names collide)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from index_server import IndexServer

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("PODLOCK_TEST_BASE_IMAGE", "podlock-test/debian-python:bookworm")
HELLO = ROOT / "fixtures" / "projects" / "hello"
GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("PODLOCK_REGEN_GOLDEN") == "1"


def project_config(index: IndexServer, *, variants: str = '["cpu"]', extra: str = "") -> str:
    """The fixture index plus this project's variants, all on the test base image (whose
    Python is Debian's 3.11, so the locks are for 3.11 whatever the host runs)."""
    names = [v.strip(' "') for v in variants.strip("[]").split(",")]
    tables = "".join(f'[variant.{n}]\nbase-image = "{BASE_IMAGE}"\n' for n in names)
    return (
        'python = "3.11"\n'
        f'index-url = "{index.url("pypi")}"\n'
        f"variants = {variants}\n"
        f"{extra}"
        "[indexes]\n"
        f'pytorch-cpu = "{index.url("cpu")}"\n'
        f'pytorch-cu121 = "{index.url("cu121")}"\n'
        f"{tables}"
    )


def check_golden(name: str, text: str) -> None:
    """Compare with tests/builder/golden/NAME; PODLOCK_REGEN_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if REGEN or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if not REGEN:
            pytest.fail(f"wrote missing golden file {path}; check it in")
    assert text == path.read_text(), f"{name} differs; PODLOCK_REGEN_GOLDEN=1 to accept"


def docker(*args: str, input: bytes | None = None) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, input=input
    ).stdout.decode(errors="replace")
