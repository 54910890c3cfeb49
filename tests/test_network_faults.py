"""Every network path through a proxy that fails 25% of requests (503, 429 + Retry-After,
dropped connections, cut bodies, a Content-Length longer than the body), three seeds each:
the results are the fault-free results, byte for byte, and no run prints a traceback."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fault_proxy import Faults, fault_proxy
from index_server import IndexServer
from oci_helpers import oci_build
from podlock.registry.blobs import BlobStore
from podlock.registry.client import Registry
from podlock.registry.reference import Reference
from testkit import HELLO, project_config

SEEDS = (1, 2, 3)
RATE = 0.25


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waits of milliseconds (the faults' Retry-After: 1 is capped), and 10 retries for
    podlock and uv alike (uv's default 3 would lose to 25% faults now and then)."""
    monkeypatch.setenv("PODLOCK_HTTP_BACKOFF", "0.005")
    monkeypatch.setenv("PODLOCK_HTTP_MAX_WAIT", "0.05")
    monkeypatch.setenv("PODLOCK_HTTP_RETRIES", "10")  # 0.25**11: no request loses them all
    monkeypatch.delenv("UV_HTTP_RETRIES", raising=False)  # uv_env passes podlock's on


@pytest.fixture
def index_faults(index: IndexServer) -> Iterator[Faults]:
    with fault_proxy(Faults(upstream=f"{index.host}:{index.port}", rate=0.0)) as faults:
        yield faults


def project(where: Path, index: IndexServer, faults: Faults) -> Path:
    """The hello project with every index URL behind the proxy."""
    root = where / "hello"
    shutil.copytree(HELLO, root)
    text = project_config(index, platforms='["linux/amd64"]')
    (root / "podlock.toml").write_text(text.replace(f"{index.host}:{index.port}", faults.address))
    return root


def fresh_caches(monkeypatch: pytest.MonkeyPatch, where: Path) -> None:
    monkeypatch.setenv("PODLOCK_CACHE_DIR", str(where / "podlock-cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(where / "uv-cache"))


def clean(result: Any) -> Any:
    assert "Traceback" not in result.err, result.err
    assert result.code == 0, result.err
    return result


@pytest.mark.parametrize("resolver", ["uv", "python"])
def test_lock_through_faults_gives_the_fault_free_lock(
    cli: Any,
    index: IndexServer,
    index_faults: Faults,
    resolver: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    locks = {}
    for seed in (0, *SEEDS):  # 0: no faults
        if seed:
            index_faults.reset(seed, RATE)
        run = tmp_path / f"seed-{seed}"
        fresh_caches(monkeypatch, run)
        root = project(run, index, index_faults)
        clean(cli("lock", "--project", str(root), "--resolver", resolver))
        locks[seed] = (root / "pylock.cpu.toml").read_bytes()
        if seed:
            assert sum(index_faults.injected.values()) > 0
            outdated = cli("outdated", "--project", str(root))
            assert "Traceback" not in outdated.err and outdated.code in (0, 1), outdated.err
    assert all(lock == locks[0] for lock in locks.values())


def test_daemonless_build_through_faults_gives_the_fault_free_image(
    cli: Any,
    index: IndexServer,
    index_faults: Faults,
    base_archive: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fresh_caches(monkeypatch, tmp_path / "lock")
    root = project(tmp_path, index, index_faults)
    clean(cli("lock", "--project", str(root)))
    digests, injected = {}, Counter[str]()
    for seed in (0, *SEEDS):
        if seed:
            index_faults.reset(seed, RATE)
        fresh_caches(monkeypatch, tmp_path / f"seed-{seed}")  # every wheel downloaded again
        out = tmp_path / f"layout-{seed}"
        clean(oci_build(cli, root, "--base", base_archive, "--output-dir", str(out)))
        digests[seed] = json.loads((out / "index.json").read_text())["manifests"][0]["digest"]
        injected += index_faults.injected
    assert set(digests.values()) == {digests[0]}
    assert injected["cut"] + injected["long"] + injected["drop"] > 0, injected


def test_push_through_faults_lands_a_whole_image_with_its_sbom(
    cli: Any,
    index: IndexServer,
    index_faults: Faults,
    base_archive: str,
    registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fresh_caches(monkeypatch, tmp_path / "lock")
    root = project(tmp_path, index, index_faults)
    clean(cli("lock", "--project", str(root)))
    with fault_proxy(Faults(upstream=registry, rate=0.0)) as registry_faults:
        for seed in SEEDS:
            registry_faults.reset(seed, RATE)
            fresh_caches(monkeypatch, tmp_path / f"seed-{seed}")
            repository = f"podlock-test/faults-{uuid.uuid4().hex[:8]}"
            ref = f"{registry_faults.address}/{repository}:v1"
            result = clean(oci_build(cli, root, "--base", base_archive, "--push", ref))
            assert "attached the SBOM" in result.err
            pushed = result.out.strip().splitlines()[-1]
            assert_pulls_whole(Reference.parse(f"{registry}/{repository}:v1"), pushed, tmp_path)
            assert sum(registry_faults.injected.values()) > 0


def assert_pulls_whole(ref: Reference, pushed: str, tmp_path: Path) -> None:
    """Straight from the registry (no proxy): every manifest and blob there, whole."""
    direct = Registry(ref)
    body, _ = direct.manifest(ref.repository, ref.reference)
    assert pushed.endswith("sha256:" + hashlib.sha256(body).hexdigest())
    store = BlobStore(tmp_path / f"pull-{uuid.uuid4().hex[:6]}")
    manifests = [json.loads(body)]
    while manifests:
        manifest = manifests.pop()
        for child in manifest.get("manifests", []):
            data, _ = direct.manifest(ref.repository, child["digest"])
            assert hashlib.sha256(data).hexdigest() == child["digest"].removeprefix("sha256:")
            manifests.append(json.loads(data))
        for descriptor in [manifest.get("config"), *manifest.get("layers", [])]:
            if descriptor:
                direct.fetch_blob(ref.repository, descriptor["digest"], store)  # verified
                assert store.size(descriptor["digest"]) == descriptor["size"]


class Scripted(Faults):
    """Faults by request number: ``script[(method, n)]`` for the n-th such request."""

    script: dict[tuple[str, int], str]

    def pick(self, method: str, path: str) -> str | None:
        with self.lock:
            n = sum(c for (m, _), c in self.seen.items() if m == method)
            self.seen[(method, path)] += 1
        return self.script.get((method, n))


@pytest.mark.parametrize(
    "script",
    [
        {("PATCH", 0): "drop"},  # the registry holds 0 bytes and answers Range: 0-0
        {("PATCH", 0): "drop-after", ("PATCH", 1): "drop"},  # it holds the first chunk
        {("PUT", 0): "drop-after"},  # the blob is committed, the answer lost
    ],
)
def test_an_upload_resumes_from_what_the_registry_holds(
    registry: str, tmp_path: Path, script: dict[tuple[str, int], str]
) -> None:
    data = bytes(range(256)) * (12 << 10)  # 3 MB: three 1 MB chunks
    path = tmp_path / "blob"
    path.write_bytes(data)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    faults = Scripted(upstream=registry)
    faults.script = script
    repository = f"podlock-test/resume-{uuid.uuid4().hex[:8]}"
    with fault_proxy(faults):
        ref = Reference.parse(f"{faults.address}/{repository}:v1")
        Registry(ref, chunk=1 << 20).upload(repository, digest, path)
    direct = Reference.parse(f"{registry}/{repository}:v1")
    store = BlobStore(tmp_path / "pulled")
    Registry(direct).fetch_blob(repository, digest, store)
    assert store.read(digest) == data
