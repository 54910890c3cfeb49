"""The registry as the layer cache, against the real test registries: a fresh runner (an
empty podlock cache) reuses every layer another runner pushed without fetching a wheel or
installing anything; untrusted records are ignored and reported; a registry that dies
mid-cache-write leaves only whole records."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import requests
from test_oci_push import docker_config

from podlock.oci import build as oci_build_module
from podlock.oci import image as oci_image_module
from podlock.oci.build import OciResult
from podlock.oci.layercache import TAG_PREFIX
from podlock.plan.layerplan import Wheel
from podlock.registry.client import Registry
from podlock.registry.model import MANIFEST
from podlock.registry.reference import Reference
from podlock.reporter import ListReporter
from registry_proxy import ProxyState, proxy
from services import Registry as TestRegistry
from testkit import build_oci_at


def repo() -> str:
    return f"podlock-test/cache-{uuid.uuid4().hex[:10]}"


class FreshRunner:
    """Each ``build`` runs with a new, empty podlock cache; with ``install_fails`` installing
    a wheel or fetching one fails the test."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path, self.monkeypatch, self.n = tmp_path, monkeypatch, 0
        self.fetched: list[str] = []
        real_fetch = oci_build_module.fetch_all

        def fetch(cache: Any, wheels: Iterable[Wheel], reporter: Any = None) -> Any:
            wheels = list(wheels)
            self.fetched += [w.filename for w in wheels]
            return real_fetch(cache, wheels, reporter)

        monkeypatch.setattr(oci_build_module, "fetch_all", fetch)

    def build(self, root: Path, *, install_fails: bool = False, **kw: Any) -> OciResult:
        self.n += 1
        self.fetched.clear()
        self.monkeypatch.setenv("PODLOCK_CACHE_DIR", str(self.tmp_path / f"runner-{self.n}"))
        with pytest.MonkeyPatch.context() as mp:
            if install_fails:

                def refuse(*a: Any, **k: Any) -> Any:
                    raise AssertionError("a fresh runner installed wheels despite the cache")

                mp.setattr(oci_image_module, "wheel_entries", refuse)
            return build_oci_at(root, "cpu", **kw)


def cache_tags(host: str, repository: str) -> list[str]:
    got = requests.get(f"http://{host}/v2/{repository}/tags/list", timeout=30).json()
    return sorted(t for t in got.get("tags") or [] if t.startswith(TAG_PREFIX))


def test_fresh_runner_reuses_pushed_layers_fetching_and_installing_nothing(
    hello: Callable[..., Path],
    base_archive: str,
    registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = hello()
    runner = FreshRunner(tmp_path, monkeypatch)
    ref = f"{registry}/{repo()}:v1"
    first = runner.build(root, base=base_archive, push_to=ref)
    assert first.layers_remote == () and runner.fetched
    assert first.cache_recorded == len(first.layers_built)
    (root / "pkg" / "greeting.py").write_text('GREETING = "hello from CI"\n')
    reporter = ListReporter()
    second = runner.build(
        root, base=base_archive, push_to=ref, install_fails=True, reporter=reporter
    )
    assert runner.fetched == []  # not one wheel
    assert not any((tmp_path / "runner-2").rglob("*.whl"))
    assert second.layers_built == ("code",)
    assert set(second.layers_remote) == set(first.layers_built) - {"code"}
    assert second.pushed is not None
    image = second.built.images[0]
    code = image.layers[image.names.index("code")]
    assert set(second.pushed.uploaded) == {code.digest, image.config.digest}
    assert reporter.warnings == []
    # The same bytes as a runner that builds everything itself.
    third = runner.build(root, base=base_archive, remote_cache=False)
    assert third.digest == second.digest and third.layers_remote == ()


def test_fresh_runner_with_a_cache_repo_writes_outputs_from_remote_layers(
    hello: Callable[..., Path],
    base_archive: str,
    registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = hello()
    runner = FreshRunner(tmp_path, monkeypatch)
    cache = f"{registry}/{repo()}"
    first = runner.build(
        root, base=base_archive, push_to=f"{registry}/{repo()}:a", cache_repo=cache
    )
    assert first.cache_recorded == len(first.layers_built)
    out = tmp_path / "layout"
    second = runner.build(
        root, base=base_archive, push_to=f"{registry}/{repo()}:b", cache_repo=cache,
        output_dir=out, install_fails=True,
    )  # fmt: skip
    assert runner.fetched == [] and second.layers_built == ()  # the code did not change
    assert second.digest == first.digest
    assert second.pushed is not None and second.pushed.mounted >= len(second.layers_remote)
    for d in second.built.images[0].layers:  # outputs hold every blob, diffIDs checked
        assert (out / "blobs" / "sha256" / d.digest[7:]).is_file()


@pytest.mark.parametrize("kind", ["htpasswd", "bearer"])
def test_remote_cache_with_authenticated_registries(
    kind: str,
    hello: Callable[..., Path],
    base_archive: str,
    registry: str,
    auth_registry: TestRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = hello()
    runner = FreshRunner(tmp_path, monkeypatch)
    if kind == "htpasswd":
        host = auth_registry.address
        docker_config(tmp_path, monkeypatch, host, auth_registry.user, auth_registry.password)
        ctx: Any = None
    else:
        state = ProxyState(upstream=registry, token_user="ci", token_password="s3cret-token")
        ctx = proxy(state)
        host = ctx.__enter__()
        docker_config(tmp_path, monkeypatch, host, "ci", "s3cret-token")
    try:
        ref = f"{host}/{repo()}:v1"
        first = runner.build(root, base=base_archive, push_to=ref)
        reporter = ListReporter()
        second = runner.build(
            root, base=base_archive, push_to=ref, install_fails=True, reporter=reporter
        )
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    assert second.digest == first.digest
    assert set(second.layers_remote) == set(first.layers_built)  # nothing changed
    assert runner.fetched == [] and reporter.warnings == []
    assert not any("s3cret" in m or auth_registry.password in m for m in reporter.infos)


def test_untrusted_records_are_ignored_reported_and_rewritten(
    hello: Callable[..., Path],
    base_archive: str,
    registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = hello()
    runner = FreshRunner(tmp_path, monkeypatch)
    repository = repo()
    ref = f"{registry}/{repository}:v1"
    first = runner.build(root, base=base_archive, push_to=ref)
    tags = cache_tags(registry, repository)
    assert len(tags) == first.cache_recorded >= 3
    client = Registry(Reference.parse(ref))
    # 1: another key's record under this key's tag; 2: not a podlock record at all;
    # 3: a record whose layer size is not the blob's.
    other, _ = client.manifest(repository, tags[1])
    client.put_manifest(repository, tags[0], other, MANIFEST)
    image_manifest, _ = client.manifest(repository, "v1")
    client.put_manifest(repository, tags[1], image_manifest, MANIFEST)
    record = json.loads(client.manifest(repository, tags[2])[0])
    record["layers"][0]["size"] += 1
    client.put_manifest(repository, tags[2], json.dumps(record).encode(), MANIFEST)
    reporter = ListReporter()
    second = runner.build(root, base=base_archive, push_to=ref, reporter=reporter)
    assert sorted(second.cache_ignored) == tags[:3]
    for why in ("another key", "not a podlock layer record", "bytes, the record says"):
        assert any(why in w for w in reporter.warnings), (why, reporter.warnings)
    assert second.digest == first.digest
    assert len(second.layers_built) == 3 and second.cache_recorded == 3
    third = runner.build(root, base=base_archive, push_to=ref, install_fails=True)
    assert third.cache_ignored == () and third.layers_built == ()
    assert third.digest == first.digest


def test_registry_dying_mid_cache_write_leaves_only_whole_records(
    hello: Callable[..., Path],
    base_archive: str,
    registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = hello()
    runner = FreshRunner(tmp_path, monkeypatch)
    repository = repo()
    state = ProxyState(upstream=registry, counted=("/blobs/uploads", "/manifests/podlock-layer"))
    with proxy(state) as host:
        ref = f"{host}/{repository}:v1"
        runner.build(root, base=base_archive, push_to=ref, remote_cache=False)
        state.received = 0
        state.fail_after_bytes = 3  # the empty config blob (2 bytes) and one record go through
        reporter = ListReporter()
        second = runner.build(root, base=base_archive, push_to=ref, reporter=reporter)
        assert second.pushed is not None  # the image is pushed; only the cache write failed
        assert second.cache_recorded == 1
        assert any("remote layer cache" in w and "is off" in w for w in reporter.warnings)
        state.down, state.fail_after_bytes = False, None
        tags = cache_tags(registry, repository)
        assert len(tags) == 1
        reporter = ListReporter()
        third = runner.build(root, base=base_archive, push_to=ref, reporter=reporter)
        assert len(third.layers_remote) == 1 and third.cache_ignored == ()
        assert third.digest == second.digest
