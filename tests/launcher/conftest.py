"""Launcher fixtures: a locked hello project, the fake Kubernetes API, the Docker engine."""

from __future__ import annotations

import importlib.util
import os
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


def _root_conftest() -> object:
    """tests/conftest.py's module, re-exported: other test files do `from conftest import
    fixture_config`, and whichever conftest pytest loaded last answers to that name."""
    path = Path(__file__).resolve().parent.parent / "conftest.py"
    spec = importlib.util.spec_from_file_location("_podlock_tests_root_conftest_l", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_root = _root_conftest()
ROOT = _root.ROOT  # type: ignore[attr-defined]
PYTHON = _root.PYTHON  # type: ignore[attr-defined]
Result = _root.Result  # type: ignore[attr-defined]
fixture_config = _root.fixture_config  # type: ignore[attr-defined]


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


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"engine tests must run under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine() -> Engine:
    """A reachable engine with the base image, or skip (fail under CI=true)."""
    try:
        found = Engine.connect(timeout=30)
    except PodlockError as exc:
        _skip_or_fail(f"no Docker engine: {exc.message}; {exc.hint}")
        raise
    if found.image(BASE_IMAGE) is None:
        _skip_or_fail(f"base image {BASE_IMAGE} missing (run `sudo bash ci/engine.sh base-image`)")
    return found
