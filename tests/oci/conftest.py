"""Fixtures for the daemonless builder: a locked hello project, the base tarball, the engine
and the registries. Tests that need a real component skip locally when it is missing and
fail under CI=true (the same rule as the builder's engine tests)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from oci_helpers import ANON, AUTH, BASE_TAR, make_hello, need

from index_server import IndexServer


@pytest.fixture
def hello(tmp_path: Path, index: IndexServer, cli: Any) -> Callable[..., Path]:
    """``hello(where)``: a locked copy of fixtures/projects/hello at tmp_path/where/hello."""

    def make(where: str = "a", *, lock: bool = True) -> Path:
        return make_hello(tmp_path / where / "hello", index, cli, lock=lock)

    return make


@pytest.fixture
def base_tar() -> Path:
    need(BASE_TAR.is_file(), f"{BASE_TAR} missing (run `bash ci/engine.sh up`)")
    return BASE_TAR


@pytest.fixture(scope="session")
def docker_cli() -> str:
    path = shutil.which("docker")
    ok = False
    if path:
        import subprocess

        ok = subprocess.run([path, "info"], capture_output=True, check=False).returncode == 0
    need(ok, "no Docker engine (run `bash ci/engine.sh up`)")
    assert path
    return path


def _answers(registry: str, want: int) -> bool:
    try:
        return requests.get(f"http://{registry}/v2/", timeout=3).status_code == want
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def registry() -> str:
    need(_answers(ANON, 200), f"no registry at {ANON} (run `bash ci/engine.sh up`)")
    return ANON


@pytest.fixture(scope="session")
def auth_registry() -> str:
    need(_answers(AUTH, 401), f"no htpasswd registry at {AUTH} (run `bash ci/engine.sh up`)")
    return AUTH
