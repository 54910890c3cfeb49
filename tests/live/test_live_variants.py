"""Variants with inputs of their own, against the real PyPI: small and bounded."""

from __future__ import annotations

import socket
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


def _reachable(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def test_torch_through_accelerate_is_the_cpu_build_on_tpu(tmp_path: Path, cli: Any) -> None:
    if not _reachable("download.pytorch.org"):
        pytest.skip("download.pytorch.org (the PyTorch CPU index) is not reachable from here")
    root = tmp_path / "proj"
    root.mkdir()
    (root / "requirements.txt").write_text("accelerate\n")
    (root / "podlock.toml").write_text(f'python = "{PYTHON}"\nvariants = ["tpu"]\n')
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    data = tomllib.loads((root / "pylock.tpu.toml").read_text())
    (torch,) = [p for p in data["packages"] if p["name"] == "torch"]
    assert torch["version"].endswith("+cpu") and "download.pytorch.org" in torch["index"]
    assert not [p["name"] for p in data["packages"] if p["name"].startswith("nvidia-")]
    assert "CUDA wheels" not in result.err
