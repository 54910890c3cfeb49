"""A lock is complete per wheel (issue #23): every kept wheel's own requirements are in it.

The fixture index's xgb-fake 1.0 ships three wheels; only its manylinux_2_28_x86_64 wheel
declares ``nccl-fake`` (as xgboost 2.1.3's declares nvidia-nccl-cu12), and both backends
read one wheel's metadata per version.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from test_lock_variants import load, make, pins, wheel_names

from index_server import IndexServer
from podlock.errors import PodlockError, ResolutionError
from podlock.inputs.config import VariantConfig
from podlock.inputs.discover import discover
from podlock.inputs.runtime import VariantRequirements
from podlock.platforms import Platform
from podlock.reporter import Reporter
from podlock.resolver.completeness import find_gaps, read_metadata
from podlock.resolver.model import RawArtifact, Request, Resolved
from podlock.resolver.pipeline import lock
from podlock.resolver.python.metadata import CoreMetadata

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
TWO_LINUX = '[variant.cpu]\nplatforms = ["linux/amd64", "linux/arm64"]\n'
NCCL = 'nccl-fake; platform_system == "Linux" and platform_machine != "aarch64"'


def _xgb_project(tmp_path: Path, index: IndexServer, requirements: str = "xgb-fake\n") -> Path:
    return make(tmp_path, index, requirements, f'variants = ["cpu"]\n{TWO_LINUX}')


@pytest.mark.parametrize("resolver", ["uv", "python"])
def test_the_lock_holds_what_only_one_wheel_requires(
    tmp_path: Path, index: IndexServer, cli: Any, resolver: str
) -> None:
    root = _xgb_project(tmp_path, index)
    result = cli("lock", "--resolver", resolver, "--project", str(root))
    assert result.code == 0, result.err
    cpu = load(root, "cpu")
    assert pins(cpu)["nccl-fake"] == "2.23.4"
    (nccl,) = [p for p in cpu["packages"] if p["name"] == "nccl-fake"]
    # Only linux/amd64's wheel requires it: the lock says so.
    assert nccl["marker"] == f"({AMD64.marker})"
    names = wheel_names(cpu, "xgb-fake")
    assert any("manylinux_2_28_x86_64" in n for n in names)
    assert any("manylinux2014_aarch64" in n for n in names)


def test_a_relock_reads_no_metadata_again_and_a_noop_lock_stays_offline(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = _xgb_project(tmp_path, index)
    assert cli("lock", "--project", str(root)).code == 0
    # An input change: resolved again, but each wheel's metadata comes from the cache.
    (root / "requirements.txt").write_text("xgb-fake\nidna\n")
    index.clear_log()
    again = cli("lock", "--project", str(root))
    assert again.code == 0, again.err
    assert "nccl-fake" in pins(load(root, "cpu"))
    # (uv asks for what it reads itself; podlock's own requests say ``User-Agent: podlock``)
    ours = [r.path for r in index.requests if _agent(r.headers) == "podlock"]
    assert ours, "podlock asked nothing: the test cannot tell"
    xgb = [p for p in ours if "xgb_fake" in p]
    assert xgb == [], f"read again: {xgb}"
    # Nothing changed: no page, file or metadata asked of the index.
    index.clear_log()
    noop = cli("lock", "--project", str(root))
    assert noop.code == 0, noop.err
    assert "up to date" in noop.out
    assert index.requests == []


def _agent(headers: dict[str, str]) -> str:
    return next((v for k, v in headers.items() if k.lower() == "user-agent"), "")


def test_metadata_comes_from_the_wheel_where_the_index_serves_no_pep658(
    index: IndexServer,
) -> None:
    name = "xgb_fake-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    url = index.file_url("pypi", name)
    index.clear_log()
    index.html_only = True
    try:
        got = read_metadata([RawArtifact(url=url, sha256="0" * 64)], indexes=[], offline=False)
    finally:
        index.html_only = False
    assert NCCL in got["0" * 64].requires_dist
    assert index.counters["range"] > 0


# -- the check itself, on pins and metadata in memory -------------------------------------


def _vreq(requirements: Sequence[str], platforms: Sequence[Platform]) -> VariantRequirements:
    variant = VariantConfig(
        name="cpu", accelerator="cpu", python="3.11", platforms=tuple(platforms), runtime=()
    )
    return VariantRequirements(
        variant=variant,
        requirements=tuple(requirements),
        constraints=(),
        lines=(),
        stripped=(),
        kept=(),
        with_runtime=False,
    )


def _pin(name: str, version: str, wheels: Sequence[str], *platforms: Platform) -> Resolved:
    return Resolved(
        name=name,
        version=version,
        platforms=frozenset(platforms),
        wheels=tuple(RawArtifact(url=f"https://x/{w}", sha256=w) for w in wheels),
    )


def _meta(*requires: str) -> CoreMetadata:
    return CoreMetadata(requires_dist=requires)


def test_a_gap_is_restricted_to_the_platforms_whose_wheels_declare_it() -> None:
    x86 = "xgb-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    old = "xgb-1.0-cp311-cp311-manylinux2014_x86_64.whl"
    arm = "xgb-1.0-cp311-cp311-manylinux2014_aarch64.whl"
    pinned = [_pin("xgb", "1.0", [old, x86, arm], AMD64, ARM64)]
    metadata = {old: _meta(), arm: _meta(NCCL), x86: _meta(NCCL, "numpy")}
    (nccl, numpy) = find_gaps(_vreq(["xgb"], [AMD64, ARM64]), pinned, metadata)
    assert (nccl.wheel, nccl.requirement, nccl.platforms) == (x86, NCCL, {AMD64})
    assert nccl.restricted() == f"nccl-fake; {Marker(AMD64.marker)}"
    assert numpy.platforms == {AMD64}
    assert "xgb-1.0-cp311-cp311-manylinux_2_28_x86_64.whl requires" in str(nccl)


def test_extras_asked_by_the_project_or_a_wheel_count_and_versions_must_match() -> None:
    app = "app-1.0-py3-none-any.whl"
    lib = "lib-2.0-py3-none-any.whl"
    metadata = {
        app: _meta("lib[fast]>=2", 'old<1; extra == "legacy"'),
        lib: _meta('speedup; extra == "fast"', 'never; extra == "slow"'),
    }
    pinned = [
        _pin("app", "1.0", [app], AMD64),
        _pin("lib", "2.0", [lib], AMD64),
        _pin("old", "1.5", ["old-1.5-py3-none-any.whl"], AMD64),
    ]
    gaps = find_gaps(_vreq(["app[legacy]"], [AMD64]), pinned, metadata)
    assert [(g.package, g.requirement) for g in gaps] == [
        ("app 1.0", 'old<1; extra == "legacy"'),  # locked, but not a version it allows
        ("lib 2.0", 'speedup; extra == "fast"'),  # the extra app's wheel asks of lib
    ]


def test_a_wheel_is_checked_only_where_it_installs_and_its_pin_is_needed() -> None:
    arm = "xgb-1.0-cp311-cp311-manylinux2014_aarch64.whl"
    mac = "xgb-1.0-cp311-cp311-macosx_11_0_arm64.whl"
    pinned = [_pin("xgb", "1.0", [arm, mac], ARM64)]
    metadata = {arm: _meta('appnope; sys_platform == "darwin"'), mac: _meta("anything")}
    assert find_gaps(_vreq(["xgb"], [ARM64, AMD64]), pinned, metadata) == []


# -- when resolving again cannot close the gap ---------------------------------------------


class _Backend:
    """Pins xgb-fake with the index's wheels (read from disk); fails once asked for nccl."""

    def __init__(self, files: Path) -> None:
        self.files = files

    def resolve(self, request: Request, reporter: Reporter) -> dict[str, list[Resolved]]:
        (vreq,) = request.variants
        if any(r.startswith("nccl-fake") for r in vreq.requirements):
            raise ResolutionError(
                "no set of versions satisfies the requirements",
                explanation="nccl-fake conflicts with your pins",
            )
        wheels = sorted(p.name for p in self.files.glob("xgb_fake-1.0-cp311-*.whl"))
        artifacts = tuple(RawArtifact(path=str(self.files / w), sha256=w, size=1) for w in wheels)
        pin = Resolved(
            name="xgb-fake", version="1.0", platforms=frozenset({AMD64}), wheels=artifacts
        )
        return {vreq.variant.name: [pin]}


def test_a_gap_the_resolver_cannot_close_is_an_error_naming_the_wheel(
    tmp_path: Path, index: IndexServer, index_dir: Path
) -> None:
    root = make(tmp_path, index, "xgb-fake\n", 'variants = ["cpu"]\n')
    inputs = discover(root)
    with pytest.raises(PodlockError) as caught:
        lock(inputs, list(inputs.config.variants), backend=_Backend(index_dir / "pypi"))
    text = str(caught.value)
    assert "xgb_fake-1.0-cp311-cp311-manylinux_2_28_x86_64.whl requires" in text
    assert NCCL in text
    assert "nccl-fake conflicts with your pins" in text
    assert caught.value.hint is not None and "pin another version of xgb-fake" in caught.value.hint
    assert not list(root.glob("pylock.*"))
