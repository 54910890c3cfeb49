"""Launcher fixtures: the fake Kubernetes API (the locked hello project and the Docker
engine come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_server import FakeKube
from manifest_schemas import manifest_errors

import podlock.launcher.manifests as manifests
from podlock.launcher.cluster import Cluster


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKube]:
    """The fake API server, with $KUBECONFIG pointing at it (context "fake", namespace default),
    and node pools for the accelerators the tests launch on (two of tpu-v6e-16, for two
    slices). Every Cluster made in the test watches it on its fake clock (and keeps it: a
    log follower left over from the test never moves another test's clock)."""
    with FakeKube() as server:
        monkeypatch.setattr(Cluster, "clock", server.clock)
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
    assert server.invalid == [], "the fake API server refused a create (strict validation)"


@pytest.fixture(autouse=True)
def _rendered_manifests_checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every Job and JobSet rendered in a launcher test is checked as the API server checks
    it under strict field validation (manifest_schemas.py)."""
    found: list[str] = []
    for name in ("_job", "_jobset"):
        real = getattr(manifests, name)

        def checked(*args: Any, _real: Any = real, **kw: Any) -> Any:
            manifest = _real(*args, **kw)
            found.extend(manifest_errors(manifest))
            return manifest

        monkeypatch.setattr(manifests, name, checked)
    yield
    assert not found, "rendered manifests the API server would refuse:\n" + "\n".join(found)
