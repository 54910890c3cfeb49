"""Helpers for the oci tests (a unique module name: conftest.py names collide)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from index_server import IndexServer

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "fixtures" / "projects" / "hello"
BASE_TAR = Path(
    os.environ.get("PODLOCK_TEST_BASE_TAR", "/var/cache/podlock-ci/base-bookworm.docker.tar")
)
BASE = f"docker-archive:{BASE_TAR}"
ANON = "127.0.0.1:5000"
AUTH = "127.0.0.1:5001"
AUTH_USER, AUTH_PASSWORD = "podlock", "registry-secret"


def need(ok: bool, reason: str) -> None:
    """Skip when a real component is missing; under CI=true that is a failure instead."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"must run under CI=true: {reason}")
    pytest.skip(reason)


def project_config(index: IndexServer, extra: str = "") -> str:
    return (
        'python = "3.11"\n'
        f'index-url = "{index.url("pypi")}"\n'
        'variants = ["cpu"]\n'
        f"{extra}"
        "[indexes]\n"
        f'pytorch-cpu = "{index.url("cpu")}"\n'
        f'pytorch-cu121 = "{index.url("cu121")}"\n'
        '[variant.cpu]\nbase-image = "podlock-test/debian-python:bookworm"\n'
    )


def make_hello(dest: Path, index: IndexServer, cli: Any, *, lock: bool = True) -> Path:
    shutil.copytree(HELLO, dest)
    (dest / "podlock.toml").write_text(project_config(index))
    if lock:
        result = cli("lock", "--project", str(dest))
        assert result.code == 0, result.err
    return dest


def run(*argv: str, input: bytes | None = None, check: bool = True) -> str:
    done = subprocess.run(list(argv), capture_output=True, input=input, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{argv} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return done.stdout.decode(errors="replace")


def layout_manifest(layout: Path) -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].removeprefix("sha256:")
    return json.loads((layout / "blobs" / "sha256" / digest).read_bytes())  # type: ignore[no-any-return]


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
