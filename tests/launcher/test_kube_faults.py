"""Kubernetes API calls through a proxy that fails a share of them (503, 429 with
Retry-After, connections dropped before an answer): reads are retried, nothing is lost."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from kube_server import FakeKube

from fault_proxy import Faults, fault_proxy
from podlock.launcher.cluster import Cluster


class Refusing(Faults):
    """Only the faults after which the server did nothing, and only for reads: a POST
    whose answer was lost is never retried (it could create twice)."""

    def pick(self, method: str, path: str) -> str | None:
        with self.lock:
            n = self.seen[(method, path)]
            self.seen[(method, path)] += 1
        rng = random.Random(f"{self.seed}:{method}:{path}:{n}")
        if method == "POST" or rng.random() >= self.rate:
            return None
        fault = rng.choice(("503", "503", "drop", "429"))
        with self.lock:
            self.injected[fault] += 1
        return fault


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cluster_reads_survive_a_third_of_requests_failing(
    kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setenv("PODLOCK_HTTP_BACKOFF", "0.01")
    upstream = kube.url.removeprefix("http://")
    with fault_proxy(Refusing(upstream=upstream, rate=0.33, seed=seed)) as faults:
        config = tmp_path / "kubeconfig"
        config.write_text(kube.kubeconfig().replace(kube.url, f"http://{faults.address}"))
        cluster = Cluster.connect(kubeconfig=str(config))
        for _ in range(4):
            assert cluster.jobs() == []
            assert cluster.namespace_exists() is True
            assert cluster.get("Job", "nope") is None
        assert sum(faults.injected.values()) > 0
