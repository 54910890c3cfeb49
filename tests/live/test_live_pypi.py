"""Against the real PyPI: small and bounded. Skipped with -m "not live"."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.pylock import Pylock

from podlock.toolchain import uv_binary
from testkit import PYTHON

pytestmark = pytest.mark.live


def test_lock_a_real_project_for_cpu_and_tpu_then_install_the_cpu_lock(
    tmp_path: Path, cli: Any
) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "requirements.txt").write_text("requests>=2.31\njax  # replaced by the runtime\n")
    (root / "podlock.toml").write_text(f'python = "{PYTHON}"\nvariants = ["cpu", "tpu"]\n')
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    locks = {}
    for variant in ("cpu", "tpu"):
        data = tomllib.loads((root / f"pylock.{variant}.toml").read_text())
        Pylock.from_dict(data)
        locks[variant] = {p["name"]: p for p in data["packages"]}
        for pkg in data["packages"]:
            for art in [*pkg.get("wheels", []), *([pkg["sdist"]] if "sdist" in pkg else [])]:
                assert art["url"].startswith("https://") and art["size"] > 0
                assert len(art["hashes"]["sha256"]) == 64
    assert "libtpu" in locks["tpu"] and "libtpu" not in locks["cpu"]
    assert {"jax", "jaxlib", "requests"} <= set(locks["cpu"])
    assert locks["cpu"]["jax"]["version"] == locks["tpu"]["jax"]["version"]
    # Every jaxlib wheel kept for cpu is for this Python on linux x86_64/aarch64.
    cp = f"cp{PYTHON.replace('.', '')}"
    for wheel in locks["cpu"]["jaxlib"]["wheels"]:
        assert f"-{cp}-" in wheel["name"] and "linux" in wheel["name"]

    exported = cli(
        "export", "--project", str(root), "--variant", "cpu", "--platform", "linux/amd64"
    )
    assert exported.code == 0, exported.err
    reqs = tmp_path / "requirements.lock.txt"
    reqs.write_text(exported.out)
    venv = tmp_path / "venv"
    uv = uv_binary()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
         "--require-hashes", "--no-deps", "-r", str(reqs)],
        check=True,
    )  # fmt: skip
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import jax, requests; print(jax.__version__, jax.numpy.arange(3).sum())"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert out.stdout.split() == [locks["cpu"]["jax"]["version"], "3"]
