"""``podlock build``'s chain of per-layer builds, and the verified uv that installs in them."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_builder_engine import layers
from test_builder_plan import MIB, planned

from builder_helpers import BASE_IMAGE, check_golden, docker
from podlock.builder import chain as build_module
from podlock.builder.dockerfile import (
    INSTALLER,
    PARENT,
    UV,
    HostInstall,
    InstalledLayer,
    render_chain,
)
from podlock.builder.layerimages import marker
from podlock.cli.caches import prune
from podlock.engine import Engine
from podlock.layers import uvbin
from podlock.layers.install import Target
from podlock.plan.layerplan import Wheel
from podlock.platforms import host_platform
from podlock.reporter import ListReporter
from testkit import blob, build_docker_at, build_oci_at, layout_manifest


def says_hello(ref: str) -> None:
    """The image runs the fixture project with no network."""
    out = docker("run", "--rm", "--network", "none", ref, "python", "main.py")
    assert "hello from the hello fixture" in out


def test_host_uv_is_verified_against_its_wheel_record() -> None:
    found = uvbin.for_platform(str(host_platform()))
    assert found is not None
    assert found.version == importlib.metadata.version("uv")
    assert hashlib.sha256(found.read()).hexdigest() == found.sha256
    other = "linux/arm64" if str(host_platform()) != "linux/arm64" else "linux/amd64"
    assert uvbin.for_platform(other) is None  # no verified binary: the image's pip is used


def test_chain_renders_one_small_build_per_layer(hello: Callable[..., Path]) -> None:
    p = planned(hello(), "cpu", system=True, heavy_bytes=MIB)
    steps = render_chain(p, "linux/amd64")
    assert [s.name for s in steps] == ["base", "runtime", "heavy-bigpkg", "deps", "image"]
    assert [s.final for s in steps] == [False, False, False, False, True]
    for step in steps[1:-1]:
        text = step.dockerfile(parent="P:1", installer="I:1")
        assert "FROM I:1 AS podlock-install" in text and "\nFROM P:1\n" in text
        assert PARENT not in text and INSTALLER not in text
        # each layer's context holds its own wheels only
        names = {s.package for s in step.context.files.values() if isinstance(s, Wheel)}
        assert names == {w.package for w in p.layer(step.name).wheels["linux/amd64"]}
    final = steps[-1].context
    assert not any(isinstance(s, Wheel) for s in final.files.values())  # a code change sends code
    assert set(final.files) >= {"podlock/pylock.cpu.toml", "code/main.py"}
    text = "\n\n".join(
        f"## {s.name}\n" + s.dockerfile(parent="<parent>", installer="<base step>") for s in steps
    )
    check_golden("cpu-chain.Dockerfiles", text)
    assert render_chain(p, "linux/amd64") == steps  # same plan, same builds


def test_chain_with_uv_copies_it_into_install_stages_only(hello: Callable[..., Path]) -> None:
    uv = uvbin.for_platform(str(host_platform()))
    assert uv is not None
    p = planned(hello(), "cpu", heavy_bytes=MIB)
    steps = render_chain(p, "linux/amd64", uv=uv)
    assert UV not in steps[0].context.files and UV not in steps[-1].context.files
    for step in steps[1:-1]:
        assert step.context.files[UV] == uv
        text = step.context.dockerfile
        stage, image = text.split(f"FROM {PARENT}")
        assert f"COPY {UV} " in stage and UV not in image


def test_chain_with_host_install_loads_one_layer_per_step(hello: Callable[..., Path]) -> None:
    p = planned(hello(), "cpu", heavy_bytes=MIB)
    host = HostInstall(target=Target(python=p.python), compiler="python3", compiler_version="3")
    steps = render_chain(p, "linux/amd64", host=host)
    for step in steps[1:-1]:
        assert not step.context.files  # no wheels, no uv, no install stage: nothing to send
        layer = step.installed
        assert isinstance(layer, InstalledLayer) and layer.name == step.name
        assert {w.package for w in layer.wheels} == {
            w.package for w in p.layer(step.name).wheels["linux/amd64"]
        }
        lines = step.dockerfile(parent="P:1", installer="I:1").splitlines()
        assert lines[1:] == ["FROM P:1", f"ADD layers/{step.name}.tar /"]  # what it amounts to
    assert steps[0].installed is None and steps[-1].installed is None
    assert render_chain(p, "linux/amd64", host=host) == steps
    # What the layer holds keys the step: another compiler, other trees, another key.
    other = HostInstall(target=host.target, compiler="python3", compiler_version="4")
    again = render_chain(p, "linux/amd64", host=other)
    assert [s.installed for s in again[1:-1]] != [s.installed for s in steps[1:-1]]


@pytest.mark.engine
@pytest.mark.parametrize("load", [True, False], ids=["load", "add"])
def test_host_installed_layers_carry_bytecode_and_no_wheels(
    engine: Engine, hello: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, load: bool
) -> None:
    """Loaded as is, or (on an engine that cannot stack a loaded layer) ADDed from the
    context: the same files either way."""
    monkeypatch.setattr(Engine, "stacks_loaded_layers", lambda self: load)
    root = hello()
    reporter = ListReporter()
    build_docker_at(root, "cpu", network="host", tag="hello:host", heavy_bytes=MIB, engine=engine,
          no_cache=True, reporter=reporter)  # fmt: skip
    assert ("layer deps: loaded" in reporter.infos) == load
    found = docker("run", "--rm", "--network", "none", "hello:host", "sh", "-c",
                   "find /opt/venv -name '*.pyc' | wc -l; find /opt /app /tmp -name '*.whl' | wc -l")  # fmt: skip
    pyc, whl = (int(n) for n in found.split())
    assert pyc > 0 and whl == 0
    assert "layers/" not in docker("history", "--no-trunc", "hello:host")  # no tar left behind
    says_hello("hello:host")


@pytest.mark.engine
def test_host_installed_layers_are_loaded_as_podlock_wrote_them(
    engine: Engine, hello: Callable[..., Path], tmp_path: Path, base_archive: str
) -> None:
    """Each host-installed layer reaches the engine as podlock's own tar: its diffID is the
    one the daemonless builder gives the same layer, `docker history` names it, and loading
    it again on the same parent gives the same image."""
    root = hello()
    build_docker_at(root, "cpu", network="host", tag="hello:loaded", heavy_bytes=MIB, engine=engine)
    build_oci_at(root, "cpu", base=base_archive, output_dir=tmp_path / "oci", tag="v1",
              heavy_bytes=MIB)  # fmt: skip
    manifest = layout_manifest(tmp_path / "oci")
    oci = json.loads(blob(tmp_path / "oci", manifest["config"]["digest"]))["rootfs"]["diff_ids"]
    ours = layers("hello:loaded")
    # engine: ..., install.sh, venv, runtime, heavy-bigpkg, deps, lock, code
    # oci:    ..., venv, runtime, heavy-bigpkg, deps, lock + code
    assert ours[-5:-2] == oci[-4:-1]
    history = docker(
        "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "hello:loaded"
    )
    loaded = [line for line in history.splitlines() if line.startswith("podlock: ")]
    assert [line.split(" layer ")[1].split(":")[0] for line in loaded] == [
        "deps", "heavy-bigpkg", "runtime"
    ]  # fmt: skip
    assert all(not line.endswith("|0B") for line in loaded)
    again = ListReporter()
    build_docker_at(root, "cpu", network="host", tag="hello:loaded", heavy_bytes=MIB, engine=engine,
          reporter=again)  # fmt: skip
    (deps,) = (line.split()[-1] for line in again.infos if line.startswith("layer deps: reused"))
    before = docker("inspect", "-f", "{{.Id}}", deps).strip()
    docker("rmi", deps)  # the tag only: the project image still stands on it
    again = ListReporter()
    build_docker_at(root, "cpu", network="host", tag="hello:loaded", heavy_bytes=MIB, engine=engine,
          reporter=again)  # fmt: skip
    assert f"layer deps: building {deps}" in again.infos
    assert docker("inspect", "-f", "{{.Id}}", deps).strip() == before


@pytest.mark.engine
def test_an_interrupted_load_tags_nothing(
    engine: Engine, hello: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut off halfway through a layer's tarball, the engine keeps no image of it: the
    next build loads the layer again, whole."""
    root = hello()
    real = build_module.layer_tarball

    def cut(*args: Any, **kwargs: Any) -> Any:
        sent = 0
        for chunk in real(*args, **kwargs):
            yield chunk
            sent += len(chunk)
            if sent > 4096:
                raise KeyboardInterrupt

    monkeypatch.setattr(build_module, "layer_tarball", cut)
    reporter = ListReporter()
    with pytest.raises(KeyboardInterrupt):
        build_docker_at(root, "cpu", network="host", tag="hello:cut", heavy_bytes=MIB, engine=engine,
              no_cache=True, reporter=reporter)  # fmt: skip
    (tag,) = (line.split()[-1] for line in reporter.infos if line.startswith("layer runtime: b"))
    assert not docker("images", "-q", tag).strip()
    monkeypatch.setattr(build_module, "layer_tarball", real)
    again = ListReporter()
    build_docker_at(root, "cpu", network="host", tag="hello:cut", heavy_bytes=MIB, engine=engine,
          reporter=again)  # fmt: skip
    assert f"layer runtime: building {tag}" in again.infos
    says_hello("hello:cut")


@pytest.mark.engine
def test_prune_untags_the_layer_images_no_build_used_lately(
    engine: Engine, hello: Callable[..., Path]
) -> None:
    root = hello()
    reporter = ListReporter()
    build_docker_at(root, "cpu", network="host", tag="hello:prune", heavy_bytes=MIB, engine=engine,
          reporter=reporter)  # fmt: skip
    used = [line.split()[-1] for line in reporter.infos if "podlock-layers/" in line]
    (runtime,) = (tag for tag in used if tag.startswith("podlock-layers/runtime:"))
    old = time.time() - 40 * 86400
    os.utime(marker(runtime), (old, old))
    removed = [r.name for r in prune(30, engine=engine) if r.what == "layer image"]
    assert runtime in removed and not (set(used) - {runtime}) & set(removed)
    assert not docker("images", "-q", runtime).strip()
    says_hello("hello:prune")  # the image stands on its layers still
    again = ListReporter()
    build_docker_at(root, "cpu", network="host", tag="hello:prune", heavy_bytes=MIB, engine=engine,
          reporter=again)  # fmt: skip
    assert f"layer runtime: building {runtime}" in again.infos


@pytest.mark.engine
def test_second_build_builds_no_layer_and_shares_them(
    engine: Engine, hello: Callable[..., Path]
) -> None:
    root = hello()
    build_docker_at(root, "cpu", network="host", tag="hello:chain1", heavy_bytes=MIB, engine=engine)
    again = ListReporter()
    result = build_docker_at(root, "cpu", network="host", tag="hello:chain2", heavy_bytes=MIB,
                   engine=engine, reporter=again)  # fmt: skip
    assert not any(": building " in line for line in again.infos), again.infos
    assert not any(line.startswith("downloading") for line in again.infos)
    reused = [line for line in again.infos if ": reused podlock-layers/" in line]
    assert len(reused) == 4  # base, runtime, heavy-bigpkg, deps
    assert result.cached_steps >= 4
    # the installer never reaches the image, and the image runs offline
    assert "uv" not in docker("run", "--rm", "hello:chain2", "ls", "/opt/podlock").split()
    says_hello("hello:chain2")


@pytest.mark.engine
def test_a_rebuilt_layer_gives_new_keys_to_the_layers_above_it(
    engine: Engine, hello: Callable[..., Path], cli: Any
) -> None:
    """Layer images from an older chain are never stacked on a rebuilt parent: keys follow
    the parent's image ID, not just its inputs."""
    root = hello()
    reqs = root / "requirements.txt"
    plain = reqs.read_text()
    build_docker_at(root, "cpu", network="host", tag="hello:k1", heavy_bytes=MIB, engine=engine)
    reqs.write_text(plain + "idna\n")
    assert cli("lock", "--project", str(root)).code == 0
    # --no-cache: every layer rebuilt, so the base step gets a new image ID
    build_docker_at(root, "cpu", network="host", tag="hello:k2", heavy_bytes=MIB, engine=engine,
          no_cache=True)  # fmt: skip
    reqs.write_text(plain)
    assert cli("lock", "--project", str(root)).code == 0
    build_docker_at(root, "cpu", network="host", tag="hello:k3", heavy_bytes=MIB, engine=engine)
    k1, k2, k3 = layers("hello:k1"), layers("hello:k2"), layers("hello:k3")
    below_deps = len(layers(BASE_IMAGE)) + 4  # install.sh, venv, runtime, heavy-bigpkg
    assert k1[:below_deps] != k2[:below_deps]  # the rebuilt chain differs from the first
    assert k3[:below_deps] == k2[:below_deps]
    out = docker("run", "--rm", "--network", "none", "hello:k3", "python", "main.py")
    assert "idna" not in out.split("dists=", 1)[1]


def test_a_build_the_disks_cannot_hold_stops_before_the_first_step(
    engine: Engine, hello: Callable[..., Path], _podlock_cache: Path, monkeypatch: Any
) -> None:
    import shutil

    from podlock.errors import DiskFull

    root = hello()
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=10**6))
    reporter = ListReporter()
    with pytest.raises(DiskFull, match="not enough disk space for the layers of hello") as caught:
        build_docker_at(root, "cpu", network="host", tag="hello:nospace", heavy_bytes=MIB,
                        engine=engine, no_cache=True, reporter=reporter)  # fmt: skip
    assert caught.value.hint and "podlock prune" in caught.value.hint
    storage = engine.storage()
    if storage and storage.stat().st_dev == _podlock_cache.parent.stat().st_dev:
        assert str(storage) in caught.value.message  # the engine's layers count here too
    assert not [line for line in reporter.infos if line.startswith("[")]  # no step ran
    assert not docker("images", "-q", "hello:nospace").strip()
