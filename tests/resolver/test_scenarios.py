"""Resolution scenarios (``scenarios/*.toml``) locked by both backends on the fixture index:
identical pins and platforms per variant, or both failing with an explanation.

A scenario file has ``description``, ``requirements`` (``{cpu}``, ``{cu121}``, ``{pypi}`` and
``{private_auth}`` expand to fixture index URLs) or ``pyproject`` (the project's
pyproject.toml instead), and optionally ``variants``, ``config`` (extra podlock.toml
lines), ``files`` (more project files), ``html_only`` (serve PEP 503 HTML without PEP 658,
like the PyPI proxy), ``error`` (both must fail; the python backend's message contains
it), ``[expect.<variant>]`` pins that both must produce and ``[absent]`` packages that a
variant's lock must not hold (``cpu = ["nvidia-cublas-cu12"]``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from index_server import IndexServer
from podlock.errors import PodlockError
from podlock.inputs.discover import discover
from podlock.resolver import backend
from podlock.resolver.pipeline import lock
from testkit import fixture_config

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.toml"))

Pins = dict[str, dict[str, tuple[str | None, str | None]]]


@pytest.fixture
def html_switch(index: IndexServer) -> Iterator[IndexServer]:
    yield index
    index.html_only = False


def _project(tmp: Path, index: IndexServer, spec: dict[str, Any], name: str) -> Path:
    root = tmp / name
    root.mkdir()
    urls = {
        "cpu": index.url("cpu"),
        "cu121": index.url("cu121"),
        "pypi": index.url("pypi"),
        "private_auth": index.url("private", auth=True),
    }
    if "pyproject" in spec:
        (root / "pyproject.toml").write_text(spec["pyproject"])
    else:
        (root / "requirements.txt").write_text(spec["requirements"].format(**urls))
    for file, text in spec.get("files", {}).items():
        (root / file).write_text(text.format(**urls))
    extra = spec.get("config", "")
    if "variants" in spec:
        extra = f"variants = {spec['variants']!r}\n".replace("'", '"') + extra
    (root / "podlock.toml").write_text(fixture_config(index, extra))
    return root


def _lock(root: Path, resolver: str) -> Pins | PodlockError:
    inputs = discover(root)
    try:
        results = lock(inputs, list(inputs.config.variants), backend=backend(resolver))
    except PodlockError as exc:
        return exc
    out: Pins = {}
    for result in results:
        assert result.lock is not None
        out[result.variant] = {p.name: (p.version, p.marker) for p in result.lock.packages}
    return out


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_gives_the_same_pins_on_both_backends(
    path: Path, tmp_path: Path, html_switch: IndexServer
) -> None:
    spec = tomllib.loads(path.read_text())
    html_switch.html_only = bool(spec.get("html_only", False))
    uv = _lock(_project(tmp_path, html_switch, spec, "uv"), "uv")
    py = _lock(_project(tmp_path, html_switch, spec, "python"), "python")
    if isinstance(uv, PodlockError) or isinstance(py, PodlockError):
        assert isinstance(uv, PodlockError), f"only the python backend failed: {py}"
        assert isinstance(py, PodlockError), f"only the uv backend failed: {uv}"
        assert "error" in spec, f"both backends failed where the scenario succeeds: {py}"
        assert str(py).strip() and "\n" in str(py), "the failure must be explained"
        assert spec["error"] in str(py)
        return
    assert "error" not in spec, f"expected a failure: {spec['error']}"
    assert py == uv
    for variant, pins in spec.get("expect", {}).items():
        got = {name: py[variant][name][0] for name in pins if name in py[variant]}
        assert got == pins
    for variant, names in spec.get("absent", {}).items():
        assert not set(names) & set(py[variant]), f"{variant} holds {set(names) & set(py[variant])}"
