"""Helpers the tests import by name (conftest modules are not importable reliably: pytest
loads several, all called `conftest`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from index_server import IndexServer
from services import BASE_IMAGE

__all__ = ["BASE_IMAGE"]

ROOT = Path(__file__).resolve().parent.parent
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
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


def default_signals() -> None:
    """In a child, before exec: default dispositions for the signals a shell may have left
    ignored (a background job of a non-interactive shell ignores SIGINT and SIGQUIT), so a
    test behaves the same however the suite was started."""
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def other_hash_seed() -> str:
    """A PYTHONHASHSEED other than this process's, for determinism tests' second side."""
    return "1" if os.environ.get("PYTHONHASHSEED") == "0" else "0"


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONHASHSEED": other_hash_seed(), **(env or {})}


def podlock(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``podlock ARGS`` in a child process with default signal dispositions and another
    hash seed than the test's (``podlock run`` execs the command; determinism tests build
    one side here)."""
    return subprocess.run(
        [sys.executable, "-m", "podlock", *args],
        capture_output=True, text=True, env=child_env(env), timeout=timeout,
        preexec_fn=default_signals,
    )  # fmt: skip


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


def project_config(
    index: IndexServer, *, variants: str = '["cpu"]', extra: str = "", platforms: str = ""
) -> str:
    """The fixture index plus this project's variants, all on the test base image (whose
    Python is Debian's 3.11, so the locks are for 3.11 whatever the host runs).
    ``platforms`` (a TOML list) narrows every variant, e.g. to the base's linux/amd64."""
    names = [v.strip(' "') for v in variants.strip("[]").split(",")]
    narrow = f"platforms = {platforms}\n" if platforms else ""
    tables = "".join(f'[variant.{n}]\nbase-image = "{BASE_IMAGE}"\n{narrow}' for n in names)
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


def build_oci_at(
    root: Path,
    variant: str,
    *,
    base: str | None = None,
    heavy_bytes: int | None = None,
    store: Any = None,
    reporter: Any = None,
    **options: Any,
) -> Any:
    """``build_oci`` of the project at ``root``: its plan loaded, then built with ``options``
    (``OciOptions`` fields)."""
    from podlock.oci.build import OciOptions, build_oci
    from podlock.plan.layerplan import HEAVY_BYTES
    from podlock.plan.load import load_plan

    plan = load_plan(root, variant, base=base, heavy_bytes=heavy_bytes or HEAVY_BYTES)
    if "platforms" in options:
        options["platforms"] = tuple(options["platforms"] or ())
    return build_oci(plan, OciOptions(**options), store=store, reporter=reporter)


def build_docker_at(
    root: Path,
    variant: str,
    *,
    engine: Any,
    base: str | None = None,
    heavy_bytes: int | None = None,
    reporter: Any = None,
    **options: Any,
) -> Any:
    """``build_docker`` of the project at ``root``: its plan loaded, then built on ``engine``
    with ``options`` (``DockerOptions`` fields)."""
    from podlock.builder.build import DockerOptions, build_docker
    from podlock.plan.layerplan import HEAVY_BYTES
    from podlock.plan.load import load_plan

    plan = load_plan(root, variant, base=base, heavy_bytes=heavy_bytes or HEAVY_BYTES)
    return build_docker(plan, DockerOptions(**options), engine, reporter)
