"""Against the real PyPI (``-m live``): both backends lock the same packages and versions.

Small on purpose: ``requests`` + ``jax`` for cpu and tpu with the host's Python. Behind the
restricted proxy this runs the HTML + range-request path (libtpu's wheel is ~214 MB and
must not be downloaded to read its METADATA). A warm run again (``--upgrade``) must give
the same pins from the metadata of the first.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from podlock.inputs.discover import discover
from podlock.resolver import backend
from podlock.resolver.model import ResolveOptions
from podlock.resolver.pipeline import lock
from podlock.resolver.python.backend import PythonBackend

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.mark.live
def test_pypi_pins_match_uv(tmp_path: Path) -> None:
    pins: dict[str, dict[str, dict[str, str | None]]] = {}
    python = PythonBackend()
    # The python backend first: the uv run's completeness check reads the same wheels'
    # metadata into the same cache, and this test is about how the python backend reads it.
    for name, impl in (("python", python), ("uv", backend("uv"))):
        root = tmp_path / name
        root.mkdir()
        (root / "requirements.txt").write_text("requests\njax\n")
        (root / "podlock.toml").write_text(f'python = "{PYTHON}"\nvariants = ["cpu", "tpu"]\n')
        inputs = discover(root)
        results = lock(inputs, list(inputs.config.variants), backend=impl)  # timed in bench/lock.py
        pins[name] = {
            r.variant: {p.name: p.version for p in r.lock.packages}
            for r in results
            if r.lock is not None
        }
    assert pins["python"] == pins["uv"]
    assert "libtpu" in pins["python"]["tpu"]
    assert python.metadata is not None
    libtpu = [f for f in python.metadata.sources if f.startswith("libtpu-")]
    assert libtpu and all(python.metadata.sources[f] in ("pep658", "range") for f in libtpu)

    warm = PythonBackend()
    inputs = discover(tmp_path / "python")
    results = lock(
        inputs, list(inputs.config.variants), backend=warm, mode=ResolveOptions(upgrade=True)
    )
    again = {r.variant: {p.name: p.version for p in r.lock.packages} for r in results if r.lock}
    assert again == pins["python"]
    assert warm.metadata is not None and set(warm.metadata.sources.values()) == {"cache"}
