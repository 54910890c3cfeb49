"""Fixtures for the daemonless builder: a locked hello project, the base tarball, the engine
and the registries. Tests that need a real component skip locally when it is missing and
fail under CI=true (the same rule as the builder's engine tests)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from oci_helpers import ANON, AUTH, BASE_TAR

from index_server import IndexServer
from testkit import HELLO, project_config, skip_or_fail


@pytest.fixture
def hello(tmp_path: Path, index: IndexServer, cli: Any) -> Callable[..., Path]:
    """``hello(where)``: a locked copy of fixtures/projects/hello at tmp_path/where/hello
    (several per test, unlike the root conftest's)."""

    def make(where: str = "a", *, lock: bool = True) -> Path:
        dest = tmp_path / where / "hello"
        shutil.copytree(HELLO, dest)
        (dest / "podlock.toml").write_text(project_config(index))
        if lock:
            result = cli("lock", "--project", str(dest))
            assert result.code == 0, result.err
        return dest

    return make


@pytest.fixture
def base_tar() -> Path:
    if not BASE_TAR.is_file():
        skip_or_fail(f"{BASE_TAR} missing (run `bash ci/engine.sh up`)")
    return BASE_TAR


@pytest.fixture(scope="session")
def docker_cli() -> str:
    path = shutil.which("docker")
    if not (path and subprocess.run([path, "info"], capture_output=True).returncode == 0):
        skip_or_fail("no Docker engine (run `bash ci/engine.sh up`)")
    assert path
    return path


def _answers(registry: str, want: int) -> bool:
    try:
        return requests.get(f"http://{registry}/v2/", timeout=3).status_code == want
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def registry() -> str:
    if not _answers(ANON, 200):
        skip_or_fail(f"no registry at {ANON} (run `bash ci/engine.sh up`)")
    return ANON


@pytest.fixture(scope="session")
def auth_registry() -> str:
    if not _answers(AUTH, 401):
        skip_or_fail(f"no htpasswd registry at {AUTH} (run `bash ci/engine.sh up`)")
    return AUTH
