"""Builder fixtures: a locked copy of the hello project, and the Docker engine.

Engine tests skip (with the reason) when no Docker engine or base image is reachable,
except under CI=true, where a missing engine is a failure: CI must run them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from builder_helpers import BASE_IMAGE, HELLO, project_config

from index_server import IndexServer
from podlock.builder.engine import Engine
from podlock.errors import PodlockError


@pytest.fixture
def hello(tmp_path: Path, index: IndexServer, cli: Any) -> Callable[..., Path]:
    """``hello(variants=..., extra=..., lock=True)``: a copy of the hello project, locked."""

    def make(*, variants: str = '["cpu"]', extra: str = "", lock: bool = True) -> Path:
        root = tmp_path / "hello"
        shutil.copytree(HELLO, root)
        (root / "podlock.toml").write_text(project_config(index, variants=variants, extra=extra))
        if lock:
            result = cli("lock", "--project", str(root))
            assert result.code == 0, result.err
        return root

    return make


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """A reachable engine with the base image, or skip (fail under CI=true)."""
    reason = None
    found: Engine | None = None
    try:
        found = Engine.connect(timeout=30)
        if found.image(BASE_IMAGE) is None:
            reason = f"base image {BASE_IMAGE} missing (run `sudo bash ci/engine.sh base-image`)"
    except PodlockError as exc:
        reason = f"{exc.message}; {exc.hint}"
    if reason or found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"engine tests must run under CI=true: {reason}")
        pytest.skip(f"no Docker engine: {reason}")
    yield found
