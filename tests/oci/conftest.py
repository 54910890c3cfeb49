"""Fixtures for the daemonless builder: the base tarball, the engine
and the registries. Tests that need a real component skip locally when it is missing and
fail under CI=true (the same rule as the builder's engine tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from oci_helpers import ANON, AUTH

from testkit import BASE_TAR, skip_or_fail


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
