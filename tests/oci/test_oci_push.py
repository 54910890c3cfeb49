"""Pushing to the real registries (anonymous, htpasswd) and through a proxy for bearer-token
auth, byte counting and a registry that goes away mid-push."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oci_helpers import built_layout, oci_build, run
from podlock.oci.push import push
from podlock.registry.auth import Credential
from podlock.registry.blobs import BlobStore
from podlock.registry.client import Registry
from podlock.registry.errors import AuthFailed, Unreachable
from podlock.registry.reference import Reference
from registry_proxy import ProxyState, proxy
from services import Registry as TestRegistry
from testkit import build_oci_at


def repo() -> str:
    return f"podlock-test/push-{uuid.uuid4().hex[:10]}"


def docker_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: str, user: str, password: str
) -> None:
    folder = tmp_path / "docker-config"
    folder.mkdir(exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))


def test_push_twice_sends_no_blobs_the_second_time_and_prints_ref_at_digest(
    hello: Callable[..., Path], cli: Any, base_archive: str, registry: str
) -> None:
    root = hello()
    ref = f"{registry}/{repo()}:v1"
    first = oci_build(cli, root, "--base", base_archive, "--push", ref)
    assert first.code == 0, first.err
    pushed = first.out.strip().splitlines()[-1]
    assert pushed.startswith(ref.rsplit(":", 1)[0] + "@sha256:")
    second = cli("push", ref, "--project", str(root), "--variant", "cpu", "--base", base_archive)
    assert second.code == 0, second.err
    assert second.out.strip() == pushed
    print("pushed", pushed)
    assert "0 blobs uploaded (0.0 MB)" in second.err
    info = json.loads(run("skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"))
    assert info["Digest"] == pushed.split("@", 1)[1]


def test_build_and_push_as_json_name_each_layer_and_what_was_reused(
    hello: Callable[..., Path], cli: Any, base_archive: str, registry: str
) -> None:
    root = hello()
    built = oci_build(cli, root, "--base", base_archive, "--format", "json")
    assert built.code == 0, built.err
    document = json.loads(built.out)
    assert document["image"].startswith("hello:cpu-")
    assert document["digest"].startswith("sha256:")
    names = [layer["name"] for layer in document["layers"]]
    assert names[0] == "base" and names[-1] == "code"
    for layer in document["layers"]:
        assert layer["digest"].startswith("sha256:") and layer["size"] > 0
        assert layer["platform"] == document["layers"][0]["platform"]
        assert layer["reused"] is (layer["name"] == "base")  # a fresh cache built the rest
    ref = f"{registry}/{repo()}:v1"
    args = ("push", ref, "--project", str(root), "--variant", "cpu", "--base", base_archive)
    first = cli(*args, "--format", "json")
    assert first.code == 0, first.err
    pushed = json.loads(first.out)
    assert pushed["image"] == f"{ref.rsplit(':', 1)[0]}@{document['digest']}"
    assert pushed["digest"] == document["digest"]  # the same lock, the same bytes
    assert [(p["name"], p["digest"]) for p in pushed["layers"]] == [
        (b["name"], b["digest"]) for b in document["layers"]
    ]
    assert not any(layer["reused"] for layer in pushed["layers"])  # a new repository
    second = json.loads(cli(*args, "--format", "json").out)
    assert all(layer["reused"] for layer in second["layers"])  # the registry has them all


def test_code_only_change_uploads_only_code_and_config(
    hello: Callable[..., Path], base_archive: str, registry: str
) -> None:
    root = hello()
    state = ProxyState(upstream=registry)
    with proxy(state) as host:
        ref = f"{host}/{repo()}:v1"
        first = build_oci_at(root, "cpu", base=base_archive, push_to=ref)
        assert first.pushed and first.pushed.uploaded_bytes > 0
        (root / "pkg" / "greeting.py").write_text('GREETING = "hello, changed"\n')
        state.received = 0
        second = build_oci_at(root, "cpu", base=base_archive, push_to=ref)
    assert second.pushed is not None
    image = second.built.images[0]
    code = image.layers[image.names.index("code")]
    assert set(second.pushed.uploaded) == {code.digest, image.config.digest}
    assert state.received == code.size + image.config.size
    assert second.layers_built == ("code",)
    print(f"code-only change: registry received {state.received} bytes")


def test_basic_auth_registry_push_and_refusal_without_leaking_the_password(
    hello: Callable[..., Path],
    cli: Any,
    base_archive: str,
    auth_registry: TestRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = hello()
    address, user, password = auth_registry.address, auth_registry.user, auth_registry.password
    assert user and password
    ref = f"{address}/{repo()}:v1"
    docker_config(tmp_path, monkeypatch, address, user, "wrong-password-xyz")
    bad = cli("push", ref, "--project", str(root), "--variant", "cpu", "--base", base_archive)
    assert bad.code != 0
    assert "refused" in bad.err and "wrong-password-xyz" not in bad.err + bad.out
    docker_config(tmp_path, monkeypatch, address, user, password)
    good = cli("push", ref, "--project", str(root), "--variant", "cpu", "--base", base_archive)
    assert good.code == 0, good.err
    assert password not in good.err + good.out
    out = run(
        "skopeo",
        "inspect",
        "--tls-verify=false",
        "--creds",
        f"{user}:{password}",
        f"docker://{ref}",
    )
    assert json.loads(out)["Digest"] == good.out.strip().split("@", 1)[1]


def test_bearer_token_auth_through_a_token_service(
    hello: Callable[..., Path], base_archive: str, registry: str, tmp_path: Path
) -> None:
    store, built = built_layout(hello(), tmp_path / "layout", base_archive)
    state = ProxyState(upstream=registry, token_user="robot", token_password="tok-secret")
    with proxy(state) as host:
        name = repo()
        ref = Reference.parse(f"{host}/{name}:v1")
        with pytest.raises(AuthFailed) as denied:
            push(built, ref, store, registry=Registry(ref, credential=Credential("robot", "nope")))
        assert "nope" not in str(denied.value) and "token service refused" in str(denied.value)
        good = Registry(ref, credential=Credential("robot", "tok-secret"))
        result = push(built, ref, store, registry=good)
    assert result.ref == f"{host}/{name}@{built.digest}"
    assert f"repository:{name}:pull,push" in state.scopes


def test_registry_going_away_mid_push_fails_clearly_and_a_rerun_finishes(
    hello: Callable[..., Path], base_archive: str, registry: str, tmp_path: Path
) -> None:
    store, built = built_layout(hello(), tmp_path / "layout", base_archive)
    state = ProxyState(upstream=registry, fail_after_bytes=40 << 20)
    with proxy(state) as host:
        ref = Reference.parse(f"{host}/{repo()}:v1")
        small = Registry(ref, chunk=1 << 20, retries=2, backoff=0.01)
        with pytest.raises(Unreachable) as gone:
            push(built, ref, store, registry=small)
        assert "run the push again" in (gone.value.hint or "")
        state.down = False
        state.fail_after_bytes = None
        assert not Registry(ref).has_manifest(ref.repository, "v1")  # manifest goes last
        result = push(built, ref, store, registry=Registry(ref, chunk=1 << 20, backoff=0.01))
    assert result.skipped >= 1  # what the first attempt finished is not sent again
    assert result.ref.endswith(built.digest)


def test_base_from_registry_is_pinned_and_its_layers_mounted_not_uploaded(
    hello: Callable[..., Path], base_tar: Path, registry: str
) -> None:
    base_repo = repo()
    run(
        "skopeo",
        "copy",
        "-q",
        "--dest-tls-verify=false",
        f"docker-archive:{base_tar}",
        f"docker://{registry}/{base_repo}:bookworm",
    )
    root = hello()
    result = build_oci_at(
        root, "cpu", base=f"{registry}/{base_repo}:bookworm", push_to=f"{registry}/{repo()}:v1"
    )
    assert result.pushed is not None and result.pushed.mounted == 1
    image = result.built.images[0]
    assert image.names[0] == "base" and image.layers[0].digest not in result.pushed.uploaded
    from podlock.registry.model import digest_of

    store = BlobStore()
    manifest = json.loads(store.read(result.digest))
    base_digest = manifest["annotations"]["org.opencontainers.image.base.digest"]
    raw = run(
        "skopeo",
        "inspect",
        "--raw",
        "--tls-verify=false",
        f"docker://{registry}/{base_repo}:bookworm",
    )
    assert base_digest == digest_of(raw.encode())
