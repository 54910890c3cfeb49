"""The independent checker: locks from both backends pass it, tampered locks don't."""

from __future__ import annotations

import copy
import io
import json
import tarfile
import tomllib
from email.parser import HeaderParser
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from checker import Dependencies, Problem, check_lock
from index_server import IndexServer
from podlock.inputs.config import VariantConfig
from podlock.inputs.discover import Inputs, discover
from podlock.inputs.runtime import variant_requirements
from podlock.platforms import Platform
from podlock.resolver import backend
from podlock.resolver.pipeline import lock
from testkit import fixture_config


def fixture_dependencies(index_dir: Path) -> Dependencies:
    """Requires-Dist straight from the fixture files (no resolver code involved)."""
    table: dict[tuple[str, str], list[str]] = {}
    for manifest in sorted(index_dir.glob("*/packages.json")):
        for item in json.loads(manifest.read_text())["files"]:
            key = (item["project"], item["version"])
            if key in table:
                continue
            path = manifest.parent / item["filename"]
            if item["kind"] == "wheel" and item["metadata"]:
                text = Path(f"{path}.metadata").read_text()
            elif item["kind"] == "sdist":
                with tarfile.open(fileobj=io.BytesIO(path.read_bytes())) as tar:
                    member = next(m for m in tar.getmembers() if m.name.endswith("/PKG-INFO"))
                    handle = tar.extractfile(member)
                    assert handle is not None
                    text = handle.read().decode()
            else:
                continue
            table[key] = HeaderParser().parsestr(text).get_all("Requires-Dist") or []

    @cache
    def deps(name: str, version: str) -> tuple[str, ...]:
        return tuple(table[(name, version)])

    return deps


def problems_of(
    root: Path, inputs: Inputs, variant: VariantConfig, deps: Dependencies
) -> list[Problem]:
    data = tomllib.loads((root / f"pylock.{variant.name}.toml").read_text())
    tool = data["tool"]["podlock"]
    names = {p["name"] for p in data["packages"]}
    vreq = variant_requirements(
        inputs,
        variant,
        force_runtime=bool(tool.get("runtime")),
        also_direct=sorted(n for n in variant.sources if n in names),
    )
    return check_lock(
        data,
        requirements=vreq.requirements,
        constraints=vreq.constraints,
        python=variant.python,
        platforms=variant.platforms,
        dependencies=deps,
    )


PROJECTS = {
    "jax-flax": ("flax\njax==0.6.2\noptax\n", ""),
    "torch-routed": (
        "torchvision\n",
        'variants = ["cpu", "cuda"]\n[variant.cuda]\nsources = { torch = "pytorch-cu121" }\n',
    ),
    "markers": (
        "numpy\nmdpkg\nrequests[socks]\nsdistonly\n",
        'variants = ["cpu"]\n[variant.cpu]\nplatforms = ["linux/amd64", "darwin/arm64"]\n',
    ),
}


@pytest.mark.parametrize("resolver", ["uv", "python"])
@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_locks_from_both_backends_pass_the_checker(
    project: str, resolver: str, tmp_path: Path, index: IndexServer, index_dir: Path
) -> None:
    requirements, extra = PROJECTS[project]
    (tmp_path / "requirements.txt").write_text(requirements)
    (tmp_path / "podlock.toml").write_text(fixture_config(index, extra))
    inputs = discover(tmp_path)
    lock(inputs, list(inputs.config.variants), backend=backend(resolver))
    deps = fixture_dependencies(index_dir)
    for variant in inputs.config.variants:
        assert problems_of(tmp_path, inputs, variant, deps) == []


@pytest.fixture
def sound(tmp_path: Path, index: IndexServer) -> tuple[dict[str, Any], list[str]]:
    (tmp_path / "requirements.txt").write_text("flax\nrequests[socks]\n")
    (tmp_path / "podlock.toml").write_text(fixture_config(index, 'variants = ["cpu"]\n'))
    inputs = discover(tmp_path)
    lock(inputs, list(inputs.config.variants), backend=backend("python"))
    data = tomllib.loads((tmp_path / "pylock.cpu.toml").read_text())
    return data, ["flax", "requests[socks]", "jax"]


def _check(data: dict[str, Any], reqs: list[str], index_dir: Path) -> list[Problem]:
    return check_lock(
        data,
        requirements=reqs,
        python=data["tool"]["podlock"]["python"],
        platforms=[Platform.parse(p) for p in data["tool"]["podlock"]["platforms"]],
        dependencies=fixture_dependencies(index_dir),
    )


def test_a_missing_dependency_is_found(
    sound: tuple[dict[str, Any], list[str]], index_dir: Path
) -> None:
    data, reqs = sound
    assert _check(data, reqs, index_dir) == []
    broken = copy.deepcopy(data)
    broken["packages"] = [p for p in broken["packages"] if p["name"] != "pysocks"]
    kinds = {(p.kind, p.package) for p in _check(broken, reqs, index_dir)}
    assert kinds == {("missing", "pysocks")}


def test_a_version_that_breaks_a_requirement_is_found(
    sound: tuple[dict[str, Any], list[str]], index_dir: Path
) -> None:
    data, reqs = sound
    broken = copy.deepcopy(data)
    (jaxlib,) = [p for p in broken["packages"] if p["name"] == "jaxlib"]
    jaxlib["version"] = "0.6.2"
    found = _check(broken, reqs, index_dir)
    assert {p.kind for p in found} == {"unsatisfied"}
    assert "jax 0.7.0 requires jaxlib<=0.7.0,>=0.7.0, the lock has 0.6.2" in str(found[0])


def test_a_file_without_hash_and_a_platform_without_wheel_are_found(
    sound: tuple[dict[str, Any], list[str]], index_dir: Path
) -> None:
    data, reqs = sound
    broken = copy.deepcopy(data)
    (numpy,) = [p for p in broken["packages"] if p["name"] == "numpy"]
    numpy["wheels"] = [w for w in numpy["wheels"] if "aarch64" not in w["name"]]
    numpy.pop("sdist", None)
    del numpy["wheels"][0]["hashes"]["sha256"]
    found = {(p.kind, p.package, p.platform) for p in _check(broken, reqs, index_dir)}
    assert found == {("hash", "numpy", None), ("no-file", "numpy", "linux/arm64")}


def test_an_unneeded_package_is_reported(
    sound: tuple[dict[str, Any], list[str]], index_dir: Path
) -> None:
    data, reqs = sound
    broken = copy.deepcopy(data)
    broken["packages"].append({"name": "colorama", "version": "0.4.6", "sdist": {
        "name": "colorama-0.4.6.tar.gz", "url": "http://x/colorama-0.4.6.tar.gz",
        "hashes": {"sha256": "0" * 64}}})  # fmt: skip
    found = {(p.kind, p.package) for p in _check(broken, reqs, index_dir)}
    assert found == {("extraneous", "colorama")}
