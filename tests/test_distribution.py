"""The distribution: ``python -m build`` makes an sdist and, from it, a wheel; the wheel,
installed into a fresh virtual environment and run from a folder outside the source tree,
locks, lists a code package, writes a Docker build context and builds an image without a
daemon: its package data (builder/files, layers/files) is there.

Offline and quick: the backend comes from the test extra (``--no-isolation``), the wheel is
built once per session, and the fresh environment gets the wheel alone (``--no-deps``) plus
a ``.pth`` line naming this environment's site-packages for its dependencies, after the
wheel's own Requires-Dist has been checked against them. Only a plain path is added, so the
editable install's ``.pth`` (which names src/) is never processed there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from oci_schemas import check_layout
from podlock import __version__
from testkit import ROOT

DATA = ("builder/files/install.sh", "builder/files/merge_shared.py",
        "builder/files/prebuilt.py", "layers/files/compile_stdin.py", "py.typed")  # fmt: skip


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Installed:
    venv: Path
    cwd: Path  # outside the source tree

    def run(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run(
            list(argv), cwd=self.cwd, env=env, capture_output=True, text=True, timeout=timeout
        )

    def podlock(self, *args: str) -> str:
        done = self.run(str(self.venv / "bin" / "podlock"), *args)
        assert done.returncode == 0, f"podlock {' '.join(args)}: {done.stderr[-3000:]}"
        return done.stdout


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """``python -m build`` of the source tree: sdist first, the wheel built from the sdist."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [sdist], [wheel] = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    return Dist(sdist=sdist, wheel=wheel)


@pytest.fixture(scope="session")
def installed(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel in a fresh venv (see the module's docstring)."""
    from podlock.toolchain import uv_binary

    venv = tmp_path_factory.mktemp("installed") / "venv"
    uv = uv_binary()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    for argv in (
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
        [uv, "pip", "install", "--quiet", "--offline", "--no-deps",
         "--python", str(venv / "bin" / "python"), str(dist.wheel)],
    ):  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
    [site] = (venv / "lib").glob("python*/site-packages")
    (site / "_podlock_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    cwd = tmp_path_factory.mktemp("elsewhere")
    return Installed(venv=venv, cwd=cwd)


def test_sdist_and_wheel_hold_the_package_data(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as whl:
        names = set(whl.namelist())
    assert {f"podlock/{f}" for f in DATA} <= names
    assert not [n for n in names if n.startswith(("tests/", "fixtures/"))]
    with tarfile.open(dist.sdist) as sdist:
        members = {m.name.partition("/")[2] for m in sdist.getmembers()}
    assert {f"src/podlock/{f}" for f in DATA} <= members
    for f in DATA:  # the installed bytes are the source's
        with zipfile.ZipFile(dist.wheel) as whl:
            assert whl.read(f"podlock/{f}") == (ROOT / "src" / "podlock" / f).read_bytes()


def test_installed_wheel_runs_from_its_venv_with_its_declared_dependencies(
    installed: Installed,
) -> None:
    probe = installed.run(
        str(installed.venv / "bin" / "python"), "-c",
        "import importlib.metadata as m, json, sys, podlock\n"
        "from packaging.requirements import Requirement\n"
        "reqs = [Requirement(r) for r in m.requires('podlock') or []]\n"
        "missing = [str(r) for r in reqs if r.marker is None\n"
        "           and not r.specifier.contains(m.version(r.name), prereleases=True)]\n"
        "print(json.dumps({'file': podlock.__file__, 'path': sys.path, 'missing': missing,\n"
        "                  'version': m.version('podlock')}))",
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert Path(found["file"]).is_relative_to(installed.venv)
    assert not [p for p in found["path"] if p.startswith(str(ROOT / "src"))]
    assert found["missing"] == [] and found["version"] == __version__
    assert installed.podlock("--version").strip() == f"podlock {__version__}"


def test_installed_wheel_locks_lists_the_code_package_and_writes_a_build_context(
    installed: Installed, hello: Callable[..., Path], tmp_path: Path
) -> None:
    root = hello(lock=False)
    installed.podlock("lock", "--project", str(root))
    assert (root / "pylock.cpu.toml").is_file()
    installed.podlock("lock", "--check", "--project", str(root))
    listed = json.loads(
        installed.podlock("package", "list", "--project", str(root), "--format", "json")
    )
    assert "main.py" in {f["path"] for f in listed["files"]}
    context = tmp_path / "context"
    installed.podlock(
        "dockerfile", "--project", str(root), "--variant", "cpu", "--output", str(context)
    )
    shipped = ROOT / "src" / "podlock" / "builder" / "files" / "install.sh"
    assert (context / "podlock" / "install.sh").read_bytes() == shipped.read_bytes()


def test_installed_wheel_builds_an_image_without_a_daemon(
    installed: Installed, hello: Callable[..., Path], base_archive: str, tmp_path: Path
) -> None:
    root = hello(lock=False)
    installed.podlock("lock", "--project", str(root))
    out = tmp_path / "layout"
    printed = installed.podlock(
        "build", "--builder", "oci", "--project", str(root), "--variant", "cpu",
        "--base", base_archive, "--output-dir", str(out), "--tag", "installed:v1",
    )  # fmt: skip
    digest = printed.strip().splitlines()[-1]
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    assert check_layout(out) == []
    assert (out / "sbom.spdx.json").is_file()
