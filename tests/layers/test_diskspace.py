"""The disk preflight: what a build needs, from the lock's wheel sizes and what is cached,
checked against a (faked) free space before anything is written."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from podlock import disk
from podlock.builder.chain import StepBuild, check_space
from podlock.builder.dockerfile import ChainStep, Context
from podlock.errors import DiskFull
from podlock.layers.diskspace import INSTALLED_FACTOR, Need, check_build, estimate
from podlock.layers.install import Target
from podlock.layers.wheels import WheelCache
from podlock.paths import cache_dir
from podlock.plan.layerplan import Wheel
from podlock.reporter import NullReporter

GB = 10**9
TARGET = Target(python="3.11")


def wheel(name: str, size: int) -> Wheel:
    sha = (name.encode().hex() * 64)[:64]
    return Wheel(package=name, version="1", filename=f"{name}-1-py3-none-any.whl", url="",
                 sha256=sha, size=size)  # fmt: skip


TORCH = wheel("torch", 900 * 10**6)
NVIDIA = [wheel(f"nvidia{i}", 300 * 10**6) for i in range(10)]
SMALL = wheel("small", 10**6)


@pytest.fixture
def free(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The free bytes ``shutil.disk_usage`` reports from now on (set ``free["bytes"]``)."""
    state = {"bytes": 100 * GB}

    def usage(path: Any) -> Any:
        return SimpleNamespace(total=200 * GB, used=0, free=state["bytes"])

    monkeypatch.setattr(shutil, "disk_usage", usage)
    return state


def test_a_cold_cuda_torch_build_needs_its_wheels_trees_and_layers() -> None:
    need = estimate([TORCH, *NVIDIA, TORCH])  # a wheel named twice counts once
    wheels = TORCH.size + sum(w.size for w in NVIDIA)
    assert need == Need(downloads=wheels, trees=int(wheels * INSTALLED_FACTOR), layers=wheels)
    assert 9 * GB < need.trees < 11 * GB  # ~4 GB of wheels, ~10 GB installed


def test_what_is_cached_needs_no_new_space() -> None:
    need = estimate([TORCH, SMALL], fetched={TORCH.sha256}, installed={TORCH.sha256, SMALL.sha256})
    assert need.downloads == SMALL.size and need.trees == 0
    assert estimate([TORCH], layers=False).layers == 0  # streamed to an engine: no blobs here
    assert estimate([]).total == 0


def test_check_free_names_the_cache_dir_the_need_the_free_space_and_prune(
    free: dict[str, int],
) -> None:
    free["bytes"] = 3 * GB
    with pytest.raises(DiskFull) as caught:
        disk.check_free({cache_dir() / "wheels": 4 * GB, cache_dir() / "oci": 10 * GB},
                        what="the layers of hello:cpu")  # fmt: skip
    err = caught.value
    assert f"under {cache_dir().absolute()} " in err.message  # both paths: the cache dir, once
    assert "14.0 GB" in err.message and "3.0 GB free" in err.message
    assert err.needed == 14 * GB and err.free == 3 * GB
    assert err.hint and "podlock prune" in err.hint and "PODLOCK_CACHE_DIR" in err.hint


def test_check_free_passes_with_room_and_leaves_a_reserve(free: dict[str, int]) -> None:
    free["bytes"] = 2 * GB
    disk.check_free({cache_dir(): GB}, what="x")
    free["bytes"] = GB + disk.RESERVE - 1
    with pytest.raises(DiskFull):
        disk.check_free({cache_dir(): GB}, what="x")


def test_the_check_can_be_turned_off(free: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    free["bytes"] = 0
    monkeypatch.setenv(disk.CHECK_ENV, "off")
    disk.check_free({cache_dir(): GB}, what="x")


def test_paths_on_one_filesystem_add_up(free: dict[str, int], tmp_path: Path) -> None:
    free["bytes"] = 5 * GB
    disk.check_free({tmp_path / "a": 3 * GB}, what="x")
    disk.check_free({tmp_path / "b": 3 * GB}, what="x")
    with pytest.raises(DiskFull, match=r"6\.0 GB under .*/a and .*/b"):
        disk.check_free({tmp_path / "a": 3 * GB, tmp_path / "b": 3 * GB}, what="x")


def test_check_build_counts_only_wheels_missing_from_the_wheel_cache(
    free: dict[str, int], tmp_path: Path
) -> None:
    cache = WheelCache(tmp_path / "wheels")
    cache.path(TORCH).parent.mkdir(parents=True)
    cache.path(TORCH).write_bytes(b"cached")
    need = check_build([TORCH, SMALL], cache, TARGET, None, blobs=tmp_path / "blobs", what="x")
    assert need.downloads == SMALL.size
    assert need.trees == int((TORCH.size + SMALL.size) * INSTALLED_FACTOR)  # no trees yet
    free["bytes"] = need.total  # no room for the reserve
    with pytest.raises(DiskFull, match="not enough disk space for the layers of hello"):
        check_build([TORCH, SMALL], cache, TARGET, None, blobs=tmp_path, what="the layers of hello")


class _Engine:
    def __init__(self, storage: Path | None) -> None:
        self._storage = storage

    def storage(self) -> Path | None:
        return self._storage


def test_the_docker_builder_counts_the_engine_storage_on_the_same_disk(
    free: dict[str, int], tmp_path: Path
) -> None:
    steps = (ChainStep(name="heavy", context=Context(dockerfile="", files={"w.whl": TORCH})),)
    cache = WheelCache(tmp_path / "wheels")
    free["bytes"] = 4 * GB  # the wheel and the engine's 2x2.25 GB do not fit together

    def how(storage: Path | None) -> StepBuild:
        return StepBuild(engine=_Engine(storage), cache=cache, reporter=NullReporter())  # type: ignore[arg-type]

    check_space(steps, how(None), "hello:cpu")  # a remote engine: only the download is here
    docker_root = tmp_path / "docker"
    docker_root.mkdir()
    with pytest.raises(DiskFull) as caught:
        check_space(steps, how(docker_root), "hello:cpu")
    assert str(docker_root) in caught.value.message
    assert caught.value.needed == TORCH.size + 2 * int(TORCH.size * INSTALLED_FACTOR)
