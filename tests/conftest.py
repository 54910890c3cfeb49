"""Shared fixtures: the local package index (built once, served over HTTP), a CLI runner, and
the real components of the engine tests (engine, base image, registries; see services.py)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import oci_schemas
import services
from index_server import PRIVATE_PASSWORD, IndexServer
from podlock.cli.main import main
from podlock.engine import Engine
from podlock.errors import PodlockError
from testkit import HELLO, ROOT, Result, project_config, skip_or_fail

# Fixtures backed by a real component: a test that uses one is an `engine` test, so
# `-m "not engine"` runs everything that needs nothing but Python and the network.
SERVICES = {"engine", "base_tar", "base_archive", "docker_cli", "registry", "auth_registry"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engine)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per reason for skipping (a missing part names how to get it), not one per
    test: pytest's own `-r s` lists every test a session fixture skipped."""
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section("skipped")
        for reason, count in sorted(reasons.items()):
            terminalreporter.write_line(f"{count} skipped: {reason}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After a session that passed, its whole temporary tree goes: the session fixtures'
    directories (registry storage, uv's cache, the apt-parity cache: ~2 GB) are kept by
    pytest's "failed" retention as if they belonged to a failing test. After a failing
    session everything stays for a look, rotated by ``tmp_path_retention_count``. Runs
    after the session fixtures' teardown (registries stopped)."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    basetemp = getattr(factory, "_basetemp", None)
    if exitstatus == 0 and basetemp is not None:
        shutil.rmtree(basetemp, ignore_errors=True)


def _load_make_index() -> object:
    spec = importlib.util.spec_from_file_location(
        "make_index", ROOT / "fixtures" / "index" / "make_index.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_index"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("index")
    _load_make_index().build_index(out)  # type: ignore[attr-defined]
    return out


@pytest.fixture(scope="session")
def index(index_dir: Path) -> Iterator[IndexServer]:
    with IndexServer(index_dir) as server:
        yield server


@pytest.fixture(autouse=True, scope="session")
def _uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One uv cache for the session, away from the user's; never try Python downloads."""
    saved = {k: os.environ.get(k) for k in ("UV_CACHE_DIR", "UV_PYTHON_DOWNLOADS")}
    os.environ["UV_CACHE_DIR"] = str(tmp_path_factory.mktemp("uv-cache"))
    os.environ["UV_PYTHON_DOWNLOADS"] = "never"
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _outputs_checked_by_their_consumers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every OCI layout, tarball, pushed manifest or index and SBOM a test makes is checked
    against the OCI image-spec's schemas, SPDX 2.3's and spdx-tools (tests/oci_schemas.py)."""
    found = oci_schemas.check_everything_written(monkeypatch)
    yield
    assert not found, "what podlock wrote is refused by its consumers:\n" + "\n".join(found)


@pytest.fixture(autouse=True)
def _podlock_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "podlock-cache"
    monkeypatch.setenv("PODLOCK_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> object:
    """Run ``podlock ARGS`` in-process; returns exit code, stdout and stderr."""

    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def hello(
    tmp_path: Path, index: IndexServer, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Path]:
    """``hello(where="", variants=..., extra=..., lock=True, private=False, platforms="")``:
    a copy of the hello project at tmp_path/where/hello (several per test if needed),
    locked. ``private``: it also needs ``secretpkg`` from the basic-auth index, whose
    password is in ``$PRIV_TOKEN`` and only referenced from requirements.txt.
    ``platforms``: narrow every variant (the test base is linux/amd64 only)."""

    def make(
        where: str = "",
        *,
        variants: str = '["cpu"]',
        extra: str = "",
        lock: bool = True,
        private: bool = False,
        platforms: str = "",
    ) -> Path:
        root = tmp_path / where / "hello"
        shutil.copytree(HELLO, root)
        config = project_config(index, variants=variants, extra=extra, platforms=platforms)
        (root / "podlock.toml").write_text(config)
        if private:
            monkeypatch.setenv("PRIV_TOKEN", PRIVATE_PASSWORD)
            url = index.url("private").replace("http://", "http://alice:${PRIV_TOKEN}@")
            reqs = root / "requirements.txt"
            reqs.write_text(f"--extra-index-url {url}\n{reqs.read_text()}secretpkg\n")
        if lock:
            result = cli("lock", "--project", str(root))
            assert result.code == 0, result.err
        return root

    return make


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """A reachable Docker engine holding the base image, or skip (fail under CI=true).
    The images the session makes there are removed when it ends (the base image stays)."""
    try:
        found = Engine.connect(timeout=30)
    except PodlockError as exc:
        skip_or_fail(f"no Docker engine: {exc.message}; {exc.hint}")
        raise
    try:
        services.base_image_id(found.client)
    except services.Missing as exc:
        skip_or_fail(str(exc))
    before = services.images(found.client)
    with pytest.MonkeyPatch.context() as patch:
        made = _record_tags(patch)
        yield found
    if not os.environ.get(services.KEEP_IMAGES):
        services.remove_new_images(found.client, before, made)


def _record_tags(patch: pytest.MonkeyPatch) -> set[str]:
    """The tags podlock sets in the engine from now on (``Engine.tag`` and ``load``)."""
    made: set[str] = set()
    real_tag, real_load = Engine.tag, Engine.load

    def tag(self: Engine, image_id: str, ref: str) -> None:
        made.add(ref)
        real_tag(self, image_id, ref)

    def load(self: Engine, tarball: Any) -> list[str]:
        messages = real_load(self, tarball)
        made.update(m.removeprefix("Loaded image: ") for m in messages)
        return messages

    patch.setattr(Engine, "tag", tag)
    patch.setattr(Engine, "load", load)
    return made


@pytest.fixture(scope="session")
def base_tar(engine: Engine) -> Path:
    """The base image as a `docker save` tarball, for the daemonless builder."""
    return services.base_archive(engine.client)


@pytest.fixture(scope="session")
def base_archive(base_tar: Path) -> str:
    """The daemonless builder's ``--base`` for the test base."""
    return f"docker-archive:{base_tar}"


@pytest.fixture(scope="session")
def docker_cli(engine: Engine) -> str:
    """The docker CLI, talking to the engine (as a user checks an image)."""
    path = shutil.which("docker")
    if not (path and subprocess.run([path, "info"], capture_output=True).returncode == 0):
        skip_or_fail("no docker CLI that reaches the engine: install docker.io")
    assert path
    return path


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An anonymous registry of this session (host:port), stopped when the session ends."""
    try:
        with services.registry(tmp_path_factory.mktemp("registry-anon")) as running:
            yield running.address
    except services.Missing as exc:
        skip_or_fail(str(exc))


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.Registry]:
    """A registry of this session that asks for htpasswd credentials (user, password)."""
    try:
        with services.registry(tmp_path_factory.mktemp("registry-auth"), user="podlock") as running:
            yield running
    except services.Missing as exc:
        skip_or_fail(str(exc))
