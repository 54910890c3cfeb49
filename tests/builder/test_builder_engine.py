"""``podlock build`` against the real Docker engine (marked ``engine``; see conftest)."""

from __future__ import annotations

import io
import json
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from builder_helpers import BASE_IMAGE, docker
from index_server import PRIVATE_PASSWORD, IndexServer
from podlock.builder import build as build_module
from podlock.engine import BuildFailed, Engine
from podlock.errors import HashMismatch
from podlock.layers.fetch import fetch_all
from podlock.layers.wheels import wheel_cache
from podlock.lock.pylock import read_lock
from podlock.plan.load import load_plan
from podlock.reporter import NullReporter
from testkit import build_docker_at

pytestmark = pytest.mark.engine
MIB = "1"  # --heavy-mb: bigpkg (2 MiB) gets a layer of its own


def layers(ref: str) -> list[str]:
    return json.loads(docker("inspect", "-f", "{{json .RootFS.Layers}}", ref))  # type: ignore[no-any-return]


def build_cli(cli: Any, root: Path, *extra: str) -> Any:
    return cli("build", "--project", str(root), "--variant", "cpu", "--network", "host",
               "--heavy-mb", MIB, *extra)  # fmt: skip


def test_bundled_image_runs_offline_with_exactly_the_lock(
    engine: Engine, hello: Callable[..., Path], cli: Any
) -> None:
    root = hello()
    result = build_cli(cli, root)
    assert result.code == 0, result.err
    ref = result.out.strip().splitlines()[-1]
    fp = read_lock(root / "pylock.cpu.toml").meta.fingerprint
    assert ref == f"hello:cpu-{fp.removeprefix('sha256:')[:12]}"
    out = docker("run", "--rm", "--network", "none", ref, "python", "main.py")
    assert "hello from the hello fixture, v1" in out
    assert "prefix=/opt/venv" in out
    dists = out.split("dists=", 1)[1].strip().split(",")
    locked = sorted(
        f"{p.name}=={p.version}" for p in read_lock(root / "pylock.cpu.toml").pylock.packages
    )
    assert sorted(d.lower().replace("_", "-") for d in dists) == locked
    labels = json.loads(docker("inspect", "-f", "{{json .Config.Labels}}", ref))
    assert labels["dev.podlock.variant"] == "cpu"
    assert labels["dev.podlock.lock-fingerprint"] == fp
    assert labels["org.opencontainers.image.title"] == "hello"
    # Secrets in the project dir never reach the image.
    saved = docker("save", ref)
    assert "not-a-real-secret" not in saved and "podlock-fixture-pem-marker" not in saved
    # bytecode was compiled at build time
    assert "__pycache__" in docker(
        "run", "--rm", ref, "ls", "/opt/venv/lib/python3.11/site-packages/flax"
    )


def test_code_change_reuses_every_dependency_layer(
    engine: Engine, hello: Callable[..., Path], cli: Any
) -> None:
    root = hello()
    first = build_cli(cli, root, "--tag", "hello:t1")
    assert first.code == 0, first.err
    (root / "pkg" / "greeting.py").write_text('GREETING = "hello from the hello fixture, v2"\n')
    second = build_cli(cli, root, "--tag", "hello:t2")
    assert second.code == 0, second.err
    a, b = layers("hello:t1"), layers("hello:t2")
    assert len(a) == len(b)
    assert a[:-1] == b[:-1] and a[-1] != b[-1]  # only the code layer differs
    assert "v2" in docker("run", "--rm", "--network", "none", "hello:t2", "python", "main.py")
    # The same build as JSON: the engine's image ID and its history's layers, oldest first.
    again = build_cli(cli, root, "--tag", "hello:t2", "--format", "json")
    assert again.code == 0, again.err
    document = json.loads(again.out)
    assert document["image"] == "hello:t2"
    assert document["digest"] == docker("inspect", "-f", "{{.Id}}", "hello:t2").strip()
    assert 0 < document["cached_steps"] <= document["steps"]
    assert all(layer["size"] > 0 and layer["reused"] is None for layer in document["layers"])
    assert len(document["layers"]) <= len(b)


def test_adding_a_small_dependency_keeps_base_runtime_and_heavy_layers(
    engine: Engine, hello: Callable[..., Path], cli: Any
) -> None:
    root = hello()
    assert build_cli(cli, root, "--tag", "hello:d1").code == 0
    (root / "requirements.txt").write_text((root / "requirements.txt").read_text() + "idna\n")
    assert cli("lock", "--project", str(root)).code == 0
    result = build_cli(cli, root, "--tag", "hello:d2")
    assert result.code == 0, result.err
    a, b = layers("hello:d1"), layers("hello:d2")
    base = len(layers(BASE_IMAGE))
    # base image, install.sh, venv, runtime venv, heavy venv: unchanged; deps onwards new.
    assert a[: base + 4] == b[: base + 4]
    assert a[base + 4] != b[base + 4]
    assert "idna==3.10" in docker(
        "run", "--rm", "--network", "none", "hello:d2", "python", "main.py"
    )


@pytest.mark.live
def test_system_packages_are_installed_from_the_lock(
    engine: Engine, hello: Callable[..., Path], cli: Any
) -> None:
    root = hello(extra='system-packages = ["jq"]\n', platforms='["linux/amd64"]')
    table = tomllib.loads((root / "pylock.cpu.toml").read_text())["tool"]["podlock"]["system"]
    locked = {d["name"]: d["version"] for d in table["debs"]}
    assert set(locked) == {"jq", "libjq1", "libonig5"}  # the base lacks all three
    result = build_cli(cli, root, "--tag", "hello:sys")
    assert result.code == 0, result.err
    run = ["run", "--rm", "--network", "none", "hello:sys"]
    got = docker(*run, "dpkg-query", "-W", "-f", "${Package} ${Version}\n", *sorted(locked))
    assert got == "".join(f"{n} {v}\n" for n, v in sorted(locked.items()))
    assert docker(*run, "jq", "-n", "1+1").strip() == "2"
    # no apt ran: no package lists in the image
    assert docker("run", "--rm", "--network", "none", "hello:sys", "ls", "/var/lib/apt/lists/") in (
        "",
        "auxfiles\nlock\npartial\n",
        "partial\n",
        "auxfiles\npartial\n",
        "lock\npartial\n",
    )


def test_system_packages_on_two_platforms_of_a_single_arch_base_name_both(
    engine: Engine, hello: Callable[..., Path], cli: Any
) -> None:
    root = hello(extra='system-packages = ["tzdata"]\n', lock=False)  # amd64 + arm64
    result = cli("lock", "--project", str(root))
    assert result.code != 0
    assert BASE_IMAGE in result.err and "linux/arm64" in result.err


@pytest.mark.live
def test_unknown_apt_package_is_named(engine: Engine, hello: Callable[..., Path], cli: Any) -> None:
    extra = 'system-packages = ["no-such-package-podlock"]\n'
    root = hello(extra=extra, lock=False, platforms='["linux/amd64"]')
    result = cli("lock", "--project", str(root))  # system packages are resolved at lock time
    assert result.code != 0
    assert "system package no-such-package-podlock: no candidate" in result.err
    assert BASE_IMAGE in result.err


def test_wheel_with_wrong_hash_fails_the_build_naming_it(
    engine: Engine, hello: Callable[..., Path], cli: Any
) -> None:
    root = hello()
    lock = root / "pylock.cpu.toml"
    loaded = read_lock(lock)
    (msgpack,) = [p for p in loaded.pylock.packages if p.name == "msgpack"]
    good = msgpack.wheels[0].hashes["sha256"]  # type: ignore[index]
    lock.write_text(lock.read_text().replace(good, "0" * 64))
    result = build_cli(cli, root, "--tag", "hello:badhash")
    assert result.code != 0
    assert "hash mismatch for msgpack" in result.err
    assert engine.image("hello:badhash") is None


@pytest.mark.parametrize("where", ["host", "image"])
def test_wheel_changed_in_the_cache_fails_the_build_naming_it(
    engine: Engine, hello: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A cached wheel altered after it was verified fails the build, which names the
    package: on the host before it is installed there, or in the image, whose install
    enforces the lock's hashes (the path taken without a host CPython of the image's X.Y)."""
    if where == "image":
        monkeypatch.setattr(build_module, "host_install", lambda python: None)
    if engine.image("hello:altered") is not None:  # left by an earlier, failed run
        docker("rmi", "-f", "hello:altered")
    root = hello()
    project = load_plan(root, "cpu")
    (wheel,) = [w for layer in project.plan.wheel_layers
                for w in layer.wheels["linux/amd64"] if w.package == "msgpack"]  # fmt: skip
    cached = fetch_all(wheel_cache(project), [wheel])[wheel.sha256]
    altered = io.BytesIO()
    with zipfile.ZipFile(cached) as good, zipfile.ZipFile(altered, "w") as bad:
        for item in good.infolist():
            bad.writestr(item, good.read(item))
        bad.writestr("msgpack/extra.py", "x = 1\n")
    cached.write_bytes(altered.getvalue())
    # no_cache: the deps layer's image is keyed by the lock's sha256, so it would be reused
    expected = (
        (HashMismatch, "hash mismatch for msgpack")
        if where == "host"
        else (BuildFailed, "hash mismatch for msgpack while installing it")
    )
    with pytest.raises(expected[0], match=expected[1]):
        build_docker_at(
            root, "cpu", tag="hello:altered", network="host", engine=engine, no_cache=True
        )
    assert engine.image("hello:altered") is None
    if where == "host":
        assert not cached.exists()  # dropped from the cache: the next run downloads it again


def test_interrupted_build_leaves_the_old_tag(
    engine: Engine, hello: Callable[..., Path], cli: Any
) -> None:
    root = hello()
    assert build_cli(cli, root, "--tag", "hello:keep").code == 0
    old = docker("inspect", "-f", "{{.Id}}", "hello:keep").strip()
    (root / "pkg" / "greeting.py").write_text('GREETING = "interrupted"\n')

    class Interrupt(NullReporter):
        def info(self, message: str) -> None:
            if "COPY code/" in message:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_docker_at(
            root, "cpu", tag="hello:keep", network="host", reporter=Interrupt(), engine=engine
        )
    assert docker("inspect", "-f", "{{.Id}}", "hello:keep").strip() == old


def test_missing_base_image_says_how_to_get_it(
    engine: Engine, hello: Callable[..., Path], cli: Any
) -> None:
    root = hello()
    result = build_cli(cli, root, "--base", "podlock-test/nothing-here:1")
    assert result.code != 0
    assert "base image podlock-test/nothing-here:1 is not in the Docker engine" in result.err
    assert "docker pull podlock-test/nothing-here:1" in result.err


def test_custom_mode_uses_the_image_as_is(
    engine: Engine, hello: Callable[..., Path], cli: Any
) -> None:
    root = hello()
    result = build_cli(cli, root, "--mode", "custom", "--base", BASE_IMAGE)
    assert result.code == 0, result.err
    assert result.out.strip().splitlines()[-1] == BASE_IMAGE
    missing = build_cli(cli, root, "--mode", "custom", "--base", "podlock-test/absent:1")
    assert missing.code != 0 and "podlock-test/absent:1 is not in the Docker engine" in missing.err


def test_private_index_credentials_never_reach_the_image(
    engine: Engine, hello: Callable[..., Path], cli: Any, index: IndexServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    root = hello(private=True)
    result = build_cli(cli, root, "--tag", "hello:private")
    assert result.code == 0, result.err
    assert PRIVATE_PASSWORD not in result.err + result.out
    history = docker("history", "--no-trunc", "hello:private")
    saved = docker("save", "hello:private")
    inspect = docker("inspect", "hello:private")
    for text in (history, saved, inspect):
        assert PRIVATE_PASSWORD not in text
    assert "secretpkg==1.0" in docker(
        "run", "--rm", "--network", "none", "hello:private", "python", "main.py"
    )


def test_prebuilt_mode_installs_the_rest_at_start(
    engine: Engine, hello: Callable[..., Path], cli: Any
) -> None:
    root = hello()
    # Runtime base tags name their inputs, so an earlier run's base would be found: drop them.
    stale = docker("images", "--format", "{{.Repository}}:{{.Tag}}", "podlock-runtime/cpu")
    if stale.split():
        docker("rmi", "--force", *stale.split())
    missing = build_cli(cli, root, "--mode", "prebuilt", "--tag", "hello:pre")
    assert missing.code != 0 and "podlock build-base" in missing.err
    base = cli("build-base", "--project", str(root), "--variant", "cpu", "--network", "host")
    assert base.code == 0, base.err
    result = build_cli(cli, root, "--mode", "prebuilt", "--tag", "hello:pre")
    assert result.code == 0, result.err
    out = docker("run", "--rm", "--network", "host", "hello:pre", "python", "main.py")
    assert "jax=0.7.0 flax=0.10.0" in out
