"""Launcher fixtures: the fake Kubernetes API (the locked hello project and the Docker
engine come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kube_server import FakeKube


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKube]:
    """The fake API server, with $KUBECONFIG pointing at it (context "fake", namespace default)."""
    with FakeKube() as server:
        path = tmp_path / "kubeconfig"
        path.write_text(server.kubeconfig())
        monkeypatch.setenv("KUBECONFIG", str(path))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield server
