"""Launcher fixtures: the fake Kubernetes API (the locked hello project and the Docker
engine come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kube_server import FakeKube


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKube]:
    """The fake API server, with $KUBECONFIG pointing at it (context "fake", namespace default),
    and node pools for the accelerators the tests launch on (two of tpu-v6e-16, for two
    slices)."""
    with FakeKube() as server:
        for accelerator, pools in (
            ("h100x8", 1),
            ("tpu-v6e-8", 1),
            ("tpu-v6e-16", 2),
            ("v5p-8", 1),
        ):
            server.add_accelerator_pools(accelerator, pools)
        path = tmp_path / "kubeconfig"
        path.write_text(server.kubeconfig())
        monkeypatch.setenv("KUBECONFIG", str(path))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield server
