"""Helpers the tests import by name (conftest modules are not importable reliably: pytest
loads several, all called `conftest`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from index_server import IndexServer

ROOT = Path(__file__).resolve().parent.parent
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# The image-building tests' base (ci/engine.sh base-image) and sample project.
BASE_IMAGE = os.environ.get("PODLOCK_TEST_BASE_IMAGE", "podlock-test/debian-python:bookworm")
# The same base as a `docker save` tarball, for the daemonless builder (ci/engine.sh saves it).
BASE_TAR = Path(
    os.environ.get("PODLOCK_TEST_BASE_TAR", "/var/cache/podlock-ci/base-bookworm.docker.tar")
)
BASE_ARCHIVE = f"docker-archive:{BASE_TAR}"
HELLO = ROOT / "fixtures" / "projects" / "hello"
REGEN_GOLDEN = os.environ.get("PODLOCK_REGEN_GOLDEN") == "1"


@dataclass
class Result:
    code: int
    out: str
    err: str


def skip_or_fail(reason: str) -> None:
    """Skip a test whose real component (engine, registry, base image) is missing, except
    under CI=true, where CI must run it: there it fails."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"must run under CI=true: {reason}")
    pytest.skip(reason)


def fixture_config(index: IndexServer, extra: str = "") -> str:
    """A podlock.toml that points every index at the local fixture server."""
    return (
        f'python = "{PYTHON}"\n'
        f'index-url = "{index.url("pypi")}"\n'
        f"{extra}"
        "[indexes]\n"
        f'pytorch-cpu = "{index.url("cpu")}"\n'
        f'pytorch-cu121 = "{index.url("cu121")}"\n'
    )


def project_config(index: IndexServer, *, variants: str = '["cpu"]', extra: str = "") -> str:
    """The fixture index plus this project's variants, all on the test base image (whose
    Python is Debian's 3.11, so the locks are for 3.11 whatever the host runs)."""
    names = [v.strip(' "') for v in variants.strip("[]").split(",")]
    tables = "".join(f'[variant.{n}]\nbase-image = "{BASE_IMAGE}"\n' for n in names)
    return (
        'python = "3.11"\n'
        f'index-url = "{index.url("pypi")}"\n'
        f"variants = {variants}\n"
        f"{extra}"
        "[indexes]\n"
        f'pytorch-cpu = "{index.url("cpu")}"\n'
        f'pytorch-cu121 = "{index.url("cu121")}"\n'
        f"{tables}"
    )


def check_golden(path: Path, text: str) -> None:
    """Compare ``text`` with the golden file at ``path``; PODLOCK_REGEN_GOLDEN=1 rewrites it."""
    if REGEN_GOLDEN or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if not REGEN_GOLDEN:
            pytest.fail(f"wrote missing golden file {path}; check it in")
    assert text == path.read_text(), f"{path.name} differs; PODLOCK_REGEN_GOLDEN=1 to accept"


def docker(*args: str, input: bytes | None = None) -> str:
    """``docker ARGS`` (the CLI, as a user would check an image); its stdout."""
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, input=input
    ).stdout.decode(errors="replace")


def layout_manifest(layout: Path) -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].removeprefix("sha256:")
    return json.loads((layout / "blobs" / "sha256" / digest).read_bytes())  # type: ignore[no-any-return]


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
