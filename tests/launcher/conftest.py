"""Launcher fixtures: a locked hello project, the fake Kubernetes API, the Docker engine."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "builder"))

from builder_helpers import BASE_IMAGE, HELLO, project_config
from kube_server import FakeKube

from index_server import IndexServer
from podlock.builder.engine import Engine
from podlock.errors import PodlockError
from testkit import skip_or_fail


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


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKube]:
    """The fake API server, with $KUBECONFIG pointing at it (context "fake", namespace default)."""
    with FakeKube() as server:
        path = tmp_path / "kubeconfig"
        path.write_text(server.kubeconfig())
        monkeypatch.setenv("KUBECONFIG", str(path))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield server


@pytest.fixture(scope="session")
def engine() -> Engine:
    """A reachable engine with the base image, or skip (fail under CI=true)."""
    try:
        found = Engine.connect(timeout=30)
    except PodlockError as exc:
        skip_or_fail(f"no Docker engine: {exc.message}; {exc.hint}")
        raise
    if found.image(BASE_IMAGE) is None:
        skip_or_fail(f"base image {BASE_IMAGE} missing (run `sudo bash ci/engine.sh base-image`)")
    return found
