"""Variants with inputs of their own, against the real PyPI: small and bounded."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.pylock import Pylock

from testkit import PYTHON

pytestmark = pytest.mark.live


def names(root: Path, variant: str) -> set[str]:
    data = tomllib.loads((root / f"pylock.{variant}.toml").read_text())
    Pylock.from_dict(data)
    return {p["name"] for p in data["packages"]}


def test_a_tpu_file_that_includes_the_base_with_pre_on_its_line(tmp_path: Path, cli: Any) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "requirements.txt").write_text("requests>=2.31\n")
    (root / "requirements-tpu.txt").write_text("-r requirements.txt\njax[tpu] >= 0.4.30 --pre\n")
    (root / "podlock.toml").write_text(
        f'python = "{PYTHON}"\nvariants = ["cpu", "tpu"]\n'
        '[variant.tpu]\nrequirements = "requirements-tpu.txt"\n'
    )
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert "requirements-tpu.txt:2: --pre after jax" in result.err
    assert {"jax", "jaxlib", "libtpu", "requests"} <= names(root, "tpu")
    assert "requests" in names(root, "cpu") and not {"jax", "libtpu"} & names(root, "cpu")
    (root / "requirements-tpu.txt").write_text("-r requirements.txt\njax[tpu] >= 0.4.30\n")
    check = cli("lock", "--check", "--project", str(root))
    assert "pylock.cpu.toml: up to date" in check.out
    assert "pylock.tpu.toml: stale: requirements-tpu.txt changed" in check.out


def test_cuda_torch_reached_through_accelerate_in_a_tpu_lock_is_named_with_its_chain(
    tmp_path: Path, cli: Any
) -> None:
    """PyPI's torch (the CUDA build) routed into a tpu variant on purpose: the warning names
    the chain from the user's requirement and how to route or keep it. (The default route,
    the PyTorch CPU index, is not reachable from the test machines; the fixture-index
    scenario torch_indirect_per_variant checks it on both backends.)"""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "requirements.txt").write_text("accelerate\n")
    config = (
        f'python = "{PYTHON}"\nvariants = ["tpu"]\n[variant.tpu]\nsources = {{ torch = "pypi" }}\n'
    )
    (root / "podlock.toml").write_text(config)
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert (
        "pylock.tpu.toml holds CUDA wheels that a tpu host cannot use: accelerate → torch"
        in result.err
    )
    assert 'sources = { torch = "pytorch-cpu" }' in result.err
    assert any(n.startswith("nvidia-") for n in names(root, "tpu"))
    (root / "podlock.toml").write_text(config + 'keep-cuda = ["torch"]\n')
    kept = cli("lock", "--project", str(root))
    assert kept.code == 0, kept.err
    assert "CUDA wheels" not in kept.err
