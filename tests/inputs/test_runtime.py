"""Runtime stripping with Kinetic's ``# kn:keep`` semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from podlock.inputs.discover import discover
from podlock.inputs.runtime import variant_requirements


def project(tmp_path: Path, requirements: str, config: str = "") -> Path:
    (tmp_path / "requirements.txt").write_text(requirements)
    if config:
        (tmp_path / "podlock.toml").write_text(config)
    return tmp_path


@pytest.mark.parametrize(
    "line",
    [
        "jax",
        "jax[tpu]",
        "JAX==0.4.30",
        "JaxLib",
        "jaxlib>=0.4",
        "libtpu_nightly",
        "libtpu-nightly==0.1.dev1",
        "LibTPU",
        "jax ; sys_platform == 'linux'",
        "jax @ https://example.org/jax-0.6.2-py3-none-any.whl",
    ],
)
def test_every_form_of_a_runtime_line_is_stripped(tmp_path: Path, line: str) -> None:
    inputs = discover(project(tmp_path, f"flax\n{line}\n"))
    vreq = variant_requirements(inputs, inputs.config.variant("tpu"))
    assert [s.text for s in vreq.stripped] == [line]
    assert vreq.stripped[0].origin.line == 2
    assert vreq.requirements == ("flax", "jax[tpu]")
    assert vreq.with_runtime


def test_kn_keep_keeps_the_line_and_it_constrains_the_runtime(tmp_path: Path) -> None:
    inputs = discover(project(tmp_path, "jax==0.6.2 # kn:keep\nlibtpu\n"))
    vreq = variant_requirements(inputs, inputs.config.variant("tpu"))
    assert [k.text for k in vreq.kept] == ["jax==0.6.2"]
    assert [s.text for s in vreq.stripped] == ["libtpu"]
    assert vreq.requirements == ("jax==0.6.2", "jax[tpu]")


def test_config_keep_does_the_same_for_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "1"\ndependencies = ["jax==0.6.2", "jaxlib", "flax"]\n'
        '[tool.podlock]\nkeep = ["jax"]\n'
    )
    inputs = discover(tmp_path)
    vreq = variant_requirements(inputs, inputs.config.variant("cuda"))
    assert [k.text for k in vreq.kept] == ["jax==0.6.2"]
    assert [s.text for s in vreq.stripped] == ["jaxlib"]
    assert vreq.requirements == ("jax==0.6.2", "flax", "jax[cuda12]")
    assert vreq.stripped[0].origin.file == "pyproject.toml"
    assert vreq.stripped[0].origin.line == 4


def test_runtime_constraints_are_stripped_too(tmp_path: Path) -> None:
    (tmp_path / "pins.txt").write_text("jax==0.4.1\nnumpy<3\n")
    inputs = discover(project(tmp_path, "-c pins.txt\nflax\n"))
    vreq = variant_requirements(inputs, inputs.config.variant("cpu"))
    assert vreq.constraints == ("numpy<3",)
    assert [s.origin.file for s in vreq.stripped] == ["pins.txt"]


def test_no_runtime_line_means_no_runtime_until_the_resolution_shows_jax(tmp_path: Path) -> None:
    inputs = discover(project(tmp_path, "flax\n"))
    cpu = inputs.config.variant("cpu")
    assert variant_requirements(inputs, cpu).requirements == ("flax",)
    forced = variant_requirements(inputs, cpu, force_runtime=True, also_direct=["torch"])
    assert forced.requirements == ("flax", "jax", "torch")


@pytest.mark.parametrize("variant", ["cpu", "cuda", "tpu"])
def test_kn_keep_with_extras_is_used_exactly_as_written(tmp_path: Path, variant: str) -> None:
    inputs = discover(project(tmp_path, "flax\njax[cpu]  # kn:keep\n"))
    vreq = variant_requirements(inputs, inputs.config.variant(variant))
    assert [k.text for k in vreq.kept] == ["jax[cpu]"]
    assert vreq.requirements == ("flax", "jax[cpu]")  # no jax[cuda12] / jax[tpu] beside it


def test_kn_keep_with_extras_leaves_the_runtime_of_other_packages(tmp_path: Path) -> None:
    config = '[variant.tpu]\nruntime = ["jax[tpu]", "libtpu==0.0.17"]\n'
    inputs = discover(project(tmp_path, "jax[cpu]==0.6.2  # kn:keep\n", config))
    vreq = variant_requirements(inputs, inputs.config.variant("tpu"))
    assert vreq.requirements == ("jax[cpu]==0.6.2", "libtpu==0.0.17")
