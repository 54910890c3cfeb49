"""The Docker side, for real: ``podlock run --backend docker``, and ``launch`` publishing the
image to a registry by digest (only missing layers pushed) before submitting it."""

from __future__ import annotations

import json
import tomllib
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kube_server import FakeKube
from launcher_helpers import DIGEST

from podlock.engine import Engine
from podlock.launcher.accelerators import parse
from podlock.launcher.images import DockerPublisher, ImageNotPushed, in_registry
from podlock.launcher.launch import LaunchSpec, resolve_image
from podlock.oci.sbom import fallback_tag
from podlock.registry.client import Registry
from podlock.registry.reference import Reference
from podlock.reporter import ListReporter
from testkit import docker

pytestmark = pytest.mark.engine


def submitted_image(kube: FakeKube, repository: str) -> tuple[dict[str, Any], str]:
    """The one Job submitted, and its image: ``repository`` by digest, present there."""
    [name] = kube.jobs("Job")
    job = kube.job_json("Job", "default", name)
    assert job is not None
    image: str = job["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith(f"{repository}@sha256:")
    assert in_registry(Reference.parse(image, rules="launch")) is True
    return job, image


def test_docker_backend_runs_the_command_in_the_image(
    cli: Any, hello: Callable[..., Path], engine: Engine
) -> None:
    root = hello()
    (root / ".env").write_text("FROM_DOTENV=yes\n")
    result = cli(
        "run", "--backend", "docker", "--project", str(root), "--network", "host",
        "--", "python", "-c",
        "import os, sys, main; print('env', os.environ['FROM_DOTENV']); sys.exit(4)",
    )  # fmt: skip
    out = result.out
    assert result.code == 4, result.err
    assert "hello from the hello fixture" in out and "prefix=/opt/venv" in out
    assert "env yes" in out
    assert not engine.client.containers.list(all=True, filters={"label": "dev.podlock.run"})


def test_publish_pushes_by_digest_and_only_missing_layers(
    hello: Callable[..., Path], engine: Engine, registry: str
) -> None:
    root = hello()
    publisher = DockerPublisher(network="host", engine=engine)
    repository = f"{registry}/podlock-launcher-test/hello"
    first = ListReporter()
    ref = publisher.publish(root, "cpu", mode="bundled", repository=repository, reporter=first)
    parsed = Reference.parse(ref, rules="launch")
    assert parsed.name == repository and parsed.digest and parsed.tag is None
    assert in_registry(parsed) is True
    # The engine pushed the image; podlock attached its SBOM (registry 2.8: the fallback tag).
    client = Registry(Reference.parse(ref))
    path = "podlock-launcher-test/hello"
    [entry] = json.loads(client.manifest(path, fallback_tag(parsed.digest))[0])["manifests"]
    referrer = json.loads(client.manifest(path, entry["digest"])[0])
    assert referrer["subject"]["digest"] == parsed.digest
    blob = f"http://{registry}/v2/{path}/blobs/{referrer['layers'][0]['digest']}"
    sbom = json.loads(urllib.request.urlopen(blob, timeout=10).read())
    lock = tomllib.loads((root / "pylock.cpu.toml").read_text())
    assert {(p["name"], p["versionInfo"]) for p in sbom["packages"]} == {
        (p["name"], p["version"]) for p in lock["packages"]
    }
    again = ListReporter()
    assert (
        publisher.publish(root, "cpu", mode="bundled", repository=repository, reporter=again) == ref
    )
    assert any(m.startswith("pushed 0 layers") for m in again.infos), again.infos


def test_launch_bundled_submits_the_pushed_digest(
    cli: Any, hello: Callable[..., Path], engine: Engine, registry: str, kube: FakeKube
) -> None:
    root = hello()
    repository = f"{registry}/podlock-launcher-test/hello"
    result = cli(
        "launch", "--project", str(root), "--accelerator", "cpu", "--image", repository,
        "--network", "host", "--poll", "0.05", "--", "python", "main.py",
    )  # fmt: skip
    assert result.code == 0, result.err
    job, _image = submitted_image(kube, repository)
    assert job["metadata"]["labels"]["podlock.dev/variant"] == "cpu"


def test_an_image_that_was_never_pushed_is_refused(registry: str) -> None:
    spec = LaunchSpec(
        accelerator=parse("cpu"), command=("true",), mode="custom",
        image=f"{registry}/podlock-launcher-test/never-pushed@{DIGEST}",
    )  # fmt: skip
    with pytest.raises(ImageNotPushed, match="is not in its registry"):
        resolve_image(spec, root=None, variant=None, publisher=None)


def test_prebuilt_pod_starts_from_the_runtime_base_and_installs_the_lock(
    cli: Any, hello: Callable[..., Path], engine: Engine, registry: str, kube: FakeKube
) -> None:
    root = hello()
    base = cli("build-base", "--project", str(root), "--variant", "cpu", "--network", "host")
    assert base.code == 0, base.err
    repository = f"{registry}/podlock-launcher-test/hello-prebuilt"
    result = cli(
        "launch", "--project", str(root), "--accelerator", "cpu", "--mode", "prebuilt",
        "--image", repository, "--network", "host", "--detach", "--", "python", "main.py",
    )  # fmt: skip
    assert result.code == 0, result.err
    job = kube.job_json("Job", "default", result.out.strip())
    assert job is not None
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert "command" not in container and container["args"] == ["python", "main.py"]
    # What the kubelet would do: the image's entrypoint, the pod's args as CMD.
    out = docker("run", "--rm", "--network", "host", container["image"], *container["args"])
    assert "jax=0.7.0 flax=0.10.0" in out


def test_launch_with_the_oci_builder_pushes_without_the_engine_and_uses_the_digest(
    cli: Any, hello: Callable[..., Path], registry: str, kube: FakeKube, base_archive: str
) -> None:
    root = hello()
    repository = f"{registry}/podlock-launcher-test/hello-oci"
    result = cli(
        "launch", "--project", str(root), "--accelerator", "cpu", "--image", repository,
        "--builder", "oci", "--base", base_archive, "--poll", "0.05",
        "--", "python", "main.py",
    )  # fmt: skip
    assert result.code == 0, result.err
    _job, image = submitted_image(kube, repository)
    # the pushed image runs what the Job runs
    out = docker("run", "--rm", "--network", "none", image, "python", "main.py")
    assert "hello from the hello fixture" in out
