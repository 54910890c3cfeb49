"""Kubernetes API calls through a proxy that fails a share of them (503, 429 with
Retry-After, connections dropped before an answer): reads are retried, nothing is lost."""

from __future__ import annotations

import random
from collections.abc import Iterator
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
    monkeypatch.setenv("PODLOCK_HTTP_RETRIES", "10")
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


class BrokenStream:
    """A log response whose stream breaks after ``cut`` chunks (never when ``cut`` is -1)."""

    def __init__(self, body: bytes, cut: int) -> None:
        self.body, self.cut = body, cut

    def stream(self, size: int, decode_content: bool = True) -> Iterator[bytes]:
        import urllib3

        for i in range(0, len(self.body), 7):
            if self.cut == i // 7:
                raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")
            yield self.body[i : i + 7]

    def release_conn(self) -> None:
        pass


def test_a_log_stream_that_breaks_is_read_again_without_repeating_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PODLOCK_HTTP_BACKOFF", "0.001")
    body = b"".join(f"line {i}\n".encode() for i in range(20))
    cuts = iter([3, 9, 15])  # each stream breaks a bit further on, then one is whole

    class Core:
        def read_namespaced_pod_log(self, *args: object, **kwargs: object) -> BrokenStream:
            return BrokenStream(body, next(cuts, -1))

    cluster = Cluster.__new__(Cluster)
    cluster.core, cluster.namespace = Core(), "default"
    lines = list(cluster.logs("pod-0", container="main", follow=True))
    assert lines == [f"line {i}" for i in range(20)]
