"""``podlock export``: a file that installs with the command in its own header (pip and
uv), naming the indexes its packages need, credentials only as ``${VAR}``."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from index_server import PRIVATE_PASSWORD, IndexServer
from podlock.inputs.discover import discover
from podlock.inputs.indexes import shown_index_urls
from podlock.toolchain import uv_binary
from testkit import fixture_config


def make(tmp_path: Path, index: IndexServer, requirements: str, extra: str) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "requirements.txt").write_text(requirements)
    (root / "podlock.toml").write_text(fixture_config(index, extra))
    return root


AMD64 = 'variants = ["cpu"]\n[variant.cpu]\nplatforms = ["linux/amd64"]\n'


def _commands(text: str) -> dict[str, list[str]]:
    """The header's install commands, by installer."""
    found = [line.removeprefix("# install: ") for line in text.splitlines()]
    return {c.split()[0]: shlex.split(c) for c in found if c.split()[0] in ("pip", "uv")}


def _dry_run(
    argv: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The printed command with ``--dry-run`` (and nothing installed here)."""
    if argv[0] == "pip":
        argv = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            *argv[2:],
        ]
    else:
        argv = [uv_binary(), "pip", "install", "--dry-run", "--python", sys.executable, *argv[3:]]
    full = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(argv, capture_output=True, text=True, env={**full, **(env or {})})


def test_an_export_with_cpu_torch_installs_as_its_header_says(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "numpy\ntorchvision\n", AMD64)
    assert cli("lock", "--project", str(root)).code == 0
    out = tmp_path / "requirements.lock.txt"
    result = cli("export", "--project", str(root), "--variant", "cpu", "-o", str(out))
    assert result.code == 0, result.err
    text = out.read_text()
    assert f"--index-url {index.url('pypi')}\n" in text
    assert f"--extra-index-url {index.url('cpu')}\n" in text
    assert "torch==2.4.0+cpu" in text and "--no-deps" not in text
    commands = _commands(text)
    assert commands["pip"] == ["pip", "install", "--require-hashes", "-r", str(out)]
    assert f"install it with: pip install --require-hashes -r {out}" in result.err
    for argv in commands.values():
        done = _dry_run(argv)
        assert done.returncode == 0, done.stderr
        assert "torch" in done.stdout + done.stderr and "2.4.0+cpu" in done.stdout + done.stderr


def test_extras_asked_of_a_package_are_pinned_with_it_so_pip_checks_hashes(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    """jax[cuda12] asks jax-cuda12-plugin[with-cuda]: pip in --require-hashes mode
    refuses the file unless both lines carry their extras (datasets -> fsspec[http])."""
    cuda = 'variants = ["cuda"]\n[variant.cuda]\nplatforms = ["linux/amd64"]\n'
    root = make(tmp_path, index, "flax\n", cuda)
    assert cli("lock", "--project", str(root)).code == 0
    lock = tomllib.loads((root / "pylock.cuda.toml").read_text())
    extras = {
        p["name"]: p.get("tool", {}).get("podlock", {}).get("extras") for p in lock["packages"]
    }
    assert extras["jax-cuda12-plugin"] == {"linux/amd64": ["with-cuda"]}
    assert extras["jax"] == {"linux/amd64": ["cuda12"]}
    out = tmp_path / "cuda.txt"
    assert cli("export", "--project", str(root), "--variant", "cuda", "-o", str(out)).code == 0
    text = out.read_text()
    assert "\njax[cuda12]==" in text and "\njax-cuda12-plugin[with-cuda]==" in text
    assert "\njax==" in text and "\njax-cuda12-plugin==" in text  # asked without extras too
    for argv in _commands(text).values():
        done = _dry_run(argv)
        assert done.returncode == 0, done.stderr
        assert "nvidia-cublas-cu12" in done.stdout + done.stderr


def test_an_export_writes_credentials_as_variables(
    hello: Callable[..., Path], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = hello(private=True)
    result = cli("export", "--project", str(root), "--variant", "cpu")
    assert result.code == 0, result.err
    assert ":${PRIV_TOKEN}@" in result.out and PRIVATE_PASSWORD not in result.out
    assert "# set PRIV_TOKEN in the environment first" in result.out
    path = root / "requirements.lock.txt"
    path.write_text(result.out)
    argv = _commands(result.out.replace("<this file>", str(path)))["pip"]
    assert _dry_run(argv, {"PRIV_TOKEN": PRIVATE_PASSWORD}).returncode == 0


def test_index_credentials_written_literally_become_variables(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "--extra-index-url https://bob:s3cret@idx.example/simple/\nsix\n"
    )
    (tmp_path / "podlock.toml").write_text('python = "3.11"\nvariants = ["cpu"]\n')
    inputs = discover(tmp_path)
    shown = shown_index_urls(inputs, inputs.config.variant("cpu"))
    assert next(iter(shown)) == "https://pypi.org/simple"  # the default first
    assert shown["https://idx.example/simple"] == (
        "https://${INDEX_USERNAME}:${INDEX_PASSWORD}@idx.example/simple"
    )
    assert "s3cret" not in "".join(shown.values())
