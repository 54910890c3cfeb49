"""Variants with inputs of their own, and ``lock --check`` naming what changed: per-variant
files, only the edited variant going stale, the target Python whoever runs podlock, CUDA
wheels in cpu/tpu locks, pyproject ``# kn:keep``."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from test_lock_variants import load, make, pins

from index_server import IndexServer
from testkit import PYTHON, ROOT, fixture_config


def _other_pythons() -> list[Path]:
    """CPythons beside this one: pyenv's versions (found from this interpreter's own prefix,
    $PYENV_ROOT or ~/.pyenv, so a changed HOME still finds them), then the system's."""
    roots = {Path(sys.base_prefix).parent, Path.home() / ".pyenv" / "versions"}
    if os.environ.get("PYENV_ROOT"):
        roots.add(Path(os.environ["PYENV_ROOT"]) / "versions")
    found = sorted(p for root in roots for p in root.glob("*/bin/python3"))
    return [*found, *(Path(f"/usr/bin/python3.{m}") for m in range(11, 15))]


def other_python() -> Path:
    """A CPython of another minor version than this one, or skip."""
    for path in _other_pythons():
        if not path.exists():
            continue
        version = subprocess.run(
            [str(path), "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if version != PYTHON and version >= "3.11":
            return path
    pytest.skip("no second CPython (>= 3.11, another minor version) on this machine")


def podlock_under(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m podlock ARGS`` with this checkout's src and this venv's pure-Python
    dependencies: podlock as run by another interpreter (a CI runner's, say)."""
    paths = [str(ROOT / "src"), sysconfig.get_paths()["purelib"]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "UV_PYTHON_DOWNLOADS": "never"}
    return subprocess.run(
        [str(python), "-m", "podlock", *args], capture_output=True, text=True, env=env
    )


def per_variant_files(tmp_path: Path, index: IndexServer) -> Path:
    root = make(
        tmp_path,
        index,
        "flax\n",
        'variants = ["cpu", "tpu"]\n[variant.tpu]\nrequirements = "requirements-tpu.txt"\n',
    )
    (root / "requirements-tpu.txt").write_text("-r requirements.txt\nrequests\n")
    return root


@pytest.mark.parametrize("resolver", ["uv", "python"])
def test_a_variant_file_that_includes_the_base(
    tmp_path: Path, index: IndexServer, cli: Any, resolver: str
) -> None:
    root = per_variant_files(tmp_path, index)
    result = cli("lock", "--project", str(root), "--resolver", resolver)
    assert result.code == 0, result.err
    cpu, tpu = load(root, "cpu"), load(root, "tpu")
    assert {"flax", "requests", "libtpu"} <= set(pins(tpu))
    assert "flax" in pins(cpu) and "requests" not in pins(cpu)
    assert tpu["tool"]["podlock"]["source"] == "requirements-tpu.txt"
    assert set(tpu["tool"]["podlock"]["inputs"]["files"]) == {
        "requirements.txt",
        "requirements-tpu.txt",
    }
    assert set(cpu["tool"]["podlock"]["inputs"]["files"]) == {"requirements.txt"}


def test_only_the_edited_variant_goes_stale_and_check_names_the_file(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = per_variant_files(tmp_path, index)
    assert cli("lock", "--project", str(root)).code == 0
    (root / "requirements-tpu.txt").write_text("-r requirements.txt\nrequests\nidna\n")
    result = cli("lock", "--check", "--project", str(root))
    assert result.code == 1
    assert "pylock.cpu.toml: up to date" in result.out
    assert "pylock.tpu.toml: stale: requirements-tpu.txt changed" in result.out
    # A comment is no change of meaning; the base file makes both stale.
    (root / "requirements-tpu.txt").write_text("-r requirements.txt\nrequests  # tpu\n")
    assert cli("lock", "--check", "--project", str(root)).code == 0
    (root / "requirements.txt").write_text("flax\noptax\n")
    result = cli("lock", "--check", "--project", str(root))
    assert "pylock.cpu.toml: stale: requirements.txt changed" in result.out
    assert "pylock.tpu.toml: stale: requirements.txt changed" in result.out


def test_check_names_a_config_key_and_the_target_python(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "numpy\n", 'variants = ["cpu", "tpu"]\n')
    assert cli("lock", "--project", str(root)).code == 0
    config = root / "podlock.toml"
    config.write_text(config.read_text() + '[variant.tpu]\nsystem-packages = ["ffmpeg"]\n')
    result = cli("lock", "--check", "--project", str(root))
    assert "pylock.cpu.toml: up to date" in result.out
    assert (
        "pylock.tpu.toml: stale: [variant.tpu] system-packages in podlock.toml changed"
        in result.out
    )
    other = "3.12" if PYTHON != "3.12" else "3.11"
    config.write_text(config.read_text().replace(f'python = "{PYTHON}"', f'python = "{other}"'))
    result = cli("lock", "--check", "--project", str(root))
    assert f"pylock.cpu.toml: stale: the target Python changed ({PYTHON} -> {other})" in result.out


def test_check_under_another_interpreter_agrees(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    python = other_python()
    root = tmp_path / "proj"
    root.mkdir()
    (root / "requirements.txt").write_text("numpy\n")
    # No python in the config: the running interpreter decides once, the locks after that.
    (root / "podlock.toml").write_text(
        fixture_config(index, 'variants = ["cpu"]\n').replace(f'python = "{PYTHON}"\n', "")
    )
    first = cli("lock", "--project", str(root))
    assert first.code == 0, first.err
    assert f"locking for Python {PYTHON}, the running interpreter" in first.err
    assert load(root, "cpu")["tool"]["podlock"]["python"] == PYTHON
    check = podlock_under(python, "lock", "--check", "--project", str(root))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "pylock.cpu.toml: up to date" in check.stdout
    again = podlock_under(python, "lock", "--project", str(root))
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr
    # .python-version (uv's file) outranks the locks: now the lock is stale, and says why.
    (root / ".python-version").write_text("3.12.4\n" if PYTHON != "3.12" else "3.11\n")
    stale = podlock_under(python, "lock", "--check", "--project", str(root))
    assert stale.returncode == 1
    assert "stale: the target Python changed" in stale.stdout


@pytest.mark.parametrize("resolver", ["uv", "python"])
def test_cuda_wheels_in_a_cpu_lock_are_named_with_their_chain(
    tmp_path: Path, index: IndexServer, cli: Any, resolver: str
) -> None:
    routed = f'[variant.cpu]\nsources = {{ torch = "{index.url("pypi")}" }}\n'
    root = make(tmp_path, index, "accelerate\nnvidia-ml-py\n", 'variants = ["cpu"]\n' + routed)
    result = cli("lock", "--project", str(root), "--resolver", resolver)
    assert result.code == 0, result.err
    assert "nvidia-cublas-cu12" in pins(load(root, "cpu"))
    assert (
        "pylock.cpu.toml holds CUDA wheels that a cpu host cannot use: "
        "accelerate → torch → nvidia-cublas-cu12 (and 1 more: nvidia-cudnn-cu12)"
    ) in result.err
    assert 'sources = { torch = "pytorch-cpu" }' in result.err
    assert 'keep-cuda = ["torch"] to [variant.cpu]' in result.err
    assert "nvidia-ml-py" in pins(load(root, "cpu"))  # pure Python NVML bindings: no warning
    assert result.err.count("CUDA wheels") == 1 and "move nvidia-ml-py" not in result.err
    # Kept on purpose: no warning.
    config = root / "podlock.toml"
    config.write_text(
        config.read_text().replace("[variant.cpu]\n", '[variant.cpu]\nkeep-cuda = ["torch"]\n')
    )
    result = cli("lock", "--project", str(root), "--resolver", resolver)
    assert result.code == 0, result.err
    assert "CUDA wheels" not in result.err


def test_a_stripped_pyproject_line_names_both_ways_to_keep_it(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0"\ndependencies = [\n  "flax",\n  "jax==0.6.2",\n]\n'
    )
    (root / "podlock.toml").write_text(fixture_config(index, 'variants = ["tpu"]\n'))
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert "pyproject.toml:6: 'jax==0.6.2' stripped" in result.err
    assert "`# kn:keep`" in result.err and 'keep = ["jax"]' in result.err
    assert pins(load(root, "tpu"))["jax"] == "0.7.0"
    (root / "pyproject.toml").write_text(
        (root / "pyproject.toml").read_text().replace('"jax==0.6.2",', '"jax==0.6.2",  # kn:keep')
    )
    check = cli("lock", "--check", "--project", str(root))
    assert "pylock.tpu.toml: stale: pyproject.toml changed" in check.out
    result = cli("lock", "--project", str(root))
    assert result.code == 0 and "stripped" not in result.err, result.err
    tpu = load(root, "tpu")
    assert pins(tpu)["jax"] == "0.6.2" and pins(tpu)["libtpu"] == "0.0.17"
    assert tpu["tool"]["podlock"]["kept"] == [
        {"file": "pyproject.toml", "line": 6, "text": "jax==0.6.2"}
    ]


def test_pre_after_a_requirement_warns_with_its_line(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "yankee\nprerel >= 1.0 --pre\n", 'variants = ["cpu"]\n')
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert "requirements.txt:2: --pre after prerel: pre-releases of prerel are allowed" in (
        result.err
    )
    assert pins(load(root, "cpu")) == {"prerel": "2.0b1", "yankee": "1.0"}


def test_a_requirement_file_per_variant_only(tmp_path: Path, index: IndexServer, cli: Any) -> None:
    """maxtext's shape: no requirements.txt, one file per accelerator."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "tpu-requirements.txt").write_text("optax\n")
    (root / "cpu-requirements.txt").write_text("numpy\n")
    config = (
        'variants = ["cpu", "tpu"]\n'
        '[variant.cpu]\nrequirements = "cpu-requirements.txt"\n'
        '[variant.tpu]\nrequirements = "tpu-requirements.txt"\n'
    )
    (root / "podlock.toml").write_text(fixture_config(index, config))
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert "optax" in pins(load(root, "tpu")) and "optax" not in pins(load(root, "cpu"))
