"""More network paths through the fault proxy at 25%, three seeds each (see
test_network_faults.py): the Docker builder's wheel downloads, a base image pulled from a
registry, and the system-package lock and its .debs against the Debian mirror. Each run
gives the fault-free bytes (layers, digest, lock) and prints no traceback."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import docker.errors
import pytest

import test_network_faults
from fault_proxy import Faults, fault_proxy
from index_server import IndexServer
from oci_helpers import oci_build
from podlock.builder.build import host_install
from podlock.engine import Engine
from test_network_faults import RATE, SEEDS, clean, fresh_caches, project
from testkit import BASE_IMAGE, HELLO, project_config

# the fixtures of test_network_faults: ``quick`` (autouse) and the index behind the proxy
quick = test_network_faults.quick
index_faults = test_network_faults.index_faults


class Made:
    """The engine images one test makes, each named by a tag of its own; ``remove`` takes
    them away newest first (nothing else: the engine is shared with other sessions)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tags: list[str] = []

    def base(self, lines: str = "", files: dict[str, bytes] | None = None) -> str:
        """A new image of the test base plus Dockerfile ``lines`` (``files`` in its context):
        a base no image in the engine was built on yet."""
        tag = f"podlock-test/faults-base:{uuid.uuid4().hex[:12]}"
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            dockerfile = f"FROM {BASE_IMAGE}\nLABEL dev.podlock.test={tag}\n{lines}\n"
            for name, data in {"Dockerfile": dockerfile.encode(), **(files or {})}.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        context.seek(0)
        self.tags.append(tag)
        self.engine.client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
        return tag

    def remove(self) -> None:
        for tag in reversed(self.tags):
            with suppress(docker.errors.APIError):
                self.engine.client.api.remove_image(tag)


@pytest.fixture
def made(engine: Engine) -> Iterator[Made]:
    images = Made(engine)
    try:
        yield images
    finally:
        images.remove()


def test_docker_builder_wheels_through_faults_give_the_fault_free_layers(
    cli: Any,
    index: IndexServer,
    index_faults: Faults,
    made: Made,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if host_install("3.11") is None:
        pytest.skip("no CPython 3.11 here: the wheel layers are installed inside the build")
    fresh_caches(monkeypatch, tmp_path / "lock")
    root = project(tmp_path, index, index_faults)
    clean(cli("lock", "--project", str(root)))
    wheel_layers, injected = {}, Counter[str]()
    for seed in (0, *SEEDS):
        if seed:
            index_faults.reset(seed, RATE)
        fresh_caches(monkeypatch, tmp_path / f"seed-{seed}")  # every wheel downloaded again
        base = made.base()  # a base of its own: no layer step of an earlier seed is reused
        tag = f"{base}-hello"
        built = cli("build", "--builder", "docker", "--project", str(root), "--variant", "cpu",
                    "--base", base, "--tag", tag)  # fmt: skip
        made.tags += [*re.findall(r"layer \S+: building (\S+)", built.err), tag]
        wheel_layers[seed] = loaded_layers(clean(built).err)
        injected += index_faults.injected
    assert wheel_layers[0] and set(wheel_layers[0]) >= {"runtime", "deps"}, wheel_layers[0]
    assert all(layers == wheel_layers[0] for layers in wheel_layers.values())
    assert injected["cut"] + injected["long"] + injected["drop"] > 0, injected


def loaded_layers(err: str) -> dict[str, str]:
    """Layer name -> diffID of each step the build loaded from the host (the wheel layers:
    an engine's RUN steps are not byte-reproducible, these are)."""
    out = {}
    for name, tag in re.findall(r"layer (\S+): building (\S+)", err):
        if f"layer {name}: loaded" in err:
            image = subprocess.run(
                ["docker", "inspect", "-f", "{{json .RootFS.Layers}}", tag],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            out[name] = json.loads(image.stdout)[-1]
    return out


def test_base_pulled_through_faults_gives_the_fault_free_image(
    cli: Any,
    index: IndexServer,
    base_tar: Path,
    registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if shutil.which("skopeo") is None:
        pytest.skip("no skopeo to put the base into the registry: apt-get install skopeo")
    repository = "podlock-test/faults-base"  # a fixed path: the same faults every run
    subprocess.run(
        ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"docker-archive:{base_tar}",
         f"docker://{registry}/{repository}:bookworm"],
        check=True, capture_output=True,
    )  # fmt: skip
    root = tmp_path / "hello"
    shutil.copytree(HELLO, root)
    (root / "podlock.toml").write_text(project_config(index, platforms='["linux/amd64"]'))
    fresh_caches(monkeypatch, tmp_path / "lock")
    clean(cli("lock", "--project", str(root)))
    with fault_proxy(Faults(upstream=registry, rate=0.0)) as faults:
        base = f"{faults.address}/{repository}:bookworm"
        digests, injected = {}, Counter[str]()
        for seed in (0, *SEEDS):
            if seed:
                faults.reset(seed, RATE)
            fresh_caches(monkeypatch, tmp_path / f"seed-{seed}")  # the base pulled again
            out = tmp_path / f"layout-{seed}"
            clean(oci_build(cli, root, "--base", base, "--output-dir", str(out)))
            digests[seed] = json.loads((out / "index.json").read_text())["manifests"][0]["digest"]
            injected += faults.injected
    assert set(digests.values()) == {digests[0]}
    assert injected["cut"] + injected["long"] + injected["drop"] > 0, injected


DEBIAN = "deb.debian.org"


@pytest.mark.live
def test_system_lock_and_debs_through_faults_give_the_fault_free_lock_and_image(
    cli: Any,
    index: IndexServer,
    made: Made,
    base_archive: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The base's apt source is the proxy, in front of the real mirror: the InRelease and
    Packages fetches of the lock and the .deb downloads of the build all go through it."""
    with fault_proxy(Faults(upstream=f"{DEBIAN}:80", host=DEBIAN, rate=0.0)) as debian:
        source = f"deb http://{debian.address}/debian bookworm main\n".encode()
        base = made.base("COPY sources.list /etc/apt/sources.list", {"sources.list": source})
        root = tmp_path / "sys"
        root.mkdir()
        (root / "requirements.txt").write_text("")
        config = project_config(
            index, extra='system-packages = ["jq", "curl"]\n', platforms='["linux/amd64"]'
        )
        (root / "podlock.toml").write_text(config.replace(BASE_IMAGE, base))
        locks, digests = {}, {}
        injected: dict[str, Counter[str]] = {"lock": Counter(), "build": Counter()}
        for seed in (0, *SEEDS):
            if seed:
                debian.reset(seed, RATE)
            fresh_caches(monkeypatch, tmp_path / f"seed-{seed}")  # indexes and .debs again
            clean(cli("lock", "--project", str(root)))
            locks[seed] = (root / "pylock.cpu.toml").read_bytes()
            injected["lock"] += debian.injected
            debian.injected.clear()
            out = tmp_path / f"layout-{seed}"
            clean(oci_build(cli, root, "--base", base_archive, "--output-dir", str(out)))
            digests[seed] = json.loads((out / "index.json").read_text())["manifests"][0]["digest"]
            injected["build"] += debian.injected
            (root / "pylock.cpu.toml").unlink()  # the next seed locks from nothing
    assert debian.address.encode() in locks[0]  # the .debs come through the proxy
    assert all(lock == locks[0] for lock in locks.values())
    assert set(digests.values()) == {digests[0]}
    assert sum(injected["lock"].values()) > 0 and sum(injected["build"].values()) > 0, injected
