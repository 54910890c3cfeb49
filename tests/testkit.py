"""Helpers the tests import by name (conftest modules are not importable reliably: pytest
loads several, all called `conftest`)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from index_server import IndexServer

ROOT = Path(__file__).resolve().parent.parent
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@dataclass
class Result:
    code: int
    out: str
    err: str


def skip_or_fail(reason: str) -> None:
    """Skip a test whose real component (engine, registry, base image) is missing, except
    under CI=true, where CI must run it: there it fails."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"must run under CI=true: {reason}")
    pytest.skip(reason)


def fixture_config(index: IndexServer, extra: str = "") -> str:
    """A podlock.toml that points every index at the local fixture server."""
    return (
        f'python = "{PYTHON}"\n'
        f'index-url = "{index.url("pypi")}"\n'
        f"{extra}"
        "[indexes]\n"
        f'pytorch-cpu = "{index.url("cpu")}"\n'
        f'pytorch-cu121 = "{index.url("cu121")}"\n'
    )
