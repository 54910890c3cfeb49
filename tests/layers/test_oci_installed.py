"""Installed-wheel trees: built once per wheel and Python, checked on use, merged per layer."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from oci_helpers import make_wheel
from podlock.layers import installed
from podlock.layers.install import Target
from podlock.layers.tarlayer import LayerError, normalised
from podlock.plan.layerplan import Wheel
from podlock.reporter import ListReporter, NullReporter
from testkit import build_oci_at, layout_manifest

TARGET = Target(python="3.11", interpreter="/usr/bin/python3.11")


def _layers(layout: Path) -> list[str]:
    return [d["digest"] for d in layout_manifest(layout)["layers"]]


def test_a_cold_layer_cache_reuses_the_installed_trees_and_gives_the_same_digest(
    hello: Callable[..., Path],
    tmp_path: Path,
    _podlock_cache: Path,
    monkeypatch: Any,
    base_archive: str,
) -> None:
    root = hello()
    first = build_oci_at(root, "cpu", base=base_archive, output_dir=tmp_path / "one")
    trees = list((_podlock_cache / "oci" / "installed").iterdir())
    assert trees, "no installed trees were cached"
    shutil.rmtree(_podlock_cache / "oci" / "layers")  # the layer cache only

    def no_install(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached tree was installed again")

    monkeypatch.setattr(installed, "install_wheels", no_install)
    second = build_oci_at(root, "cpu", base=base_archive, output_dir=tmp_path / "two")
    assert second.layers_built  # the layers were written again ...
    assert second.digest == first.digest  # ... from the trees, byte for byte
    assert _layers(tmp_path / "one") == _layers(tmp_path / "two")


def test_a_damaged_tree_is_rebuilt_not_shipped(
    hello: Callable[..., Path],
    tmp_path: Path,
    _podlock_cache: Path,
    base_archive: str,
) -> None:
    root = hello()
    first = build_oci_at(root, "cpu", base=base_archive, output_dir=tmp_path / "one")
    victim = next((_podlock_cache / "oci" / "installed").rglob("*.py"))
    victim.unlink()
    shutil.rmtree(_podlock_cache / "oci" / "layers")
    second = build_oci_at(root, "cpu", base=base_archive, output_dir=tmp_path / "two")
    assert second.digest == first.digest
    assert victim.exists()


def _wheel(directory: Path, name: str, files: dict[str, bytes]) -> tuple[Wheel, Path]:
    path = make_wheel(directory / f"{name}-1.0-py3-none-any.whl", name, files)
    wheel = Wheel(package=name, version="1.0", filename=path.name, url="", sha256="", size=0)
    return replace(wheel, sha256=hashlib.sha256(path.read_bytes()).hexdigest()), path


def _entries(*wheels: tuple[Wheel, Path]) -> list[Any]:
    return installed.wheel_entries(
        [w for w, _ in wheels],
        {w.sha256: p for w, p in wheels},
        TARGET,
        compiler=None,
        compiler_version=None,
        layer="deps",
        reporter=NullReporter(),
    )


def _files(entries: list[Any]) -> dict[str, bytes]:
    return {e.path: e.source.read_bytes() for e in entries if e.kind == "file"}


def test_a_file_several_wheels_ship_with_the_same_bytes_is_written_once_silently(
    tmp_path: Path, _podlock_cache: Path
) -> None:
    # The CUDA 12 nvidia-* wheels each ship the same nvidia/__init__.py.
    a = _wheel(tmp_path, "nvidia_a", {"nvidia/__init__.py": b"", "nvidia/a/lib.so": b"A"})
    b = _wheel(tmp_path, "nvidia_b", {"nvidia/__init__.py": b"", "nvidia/b/lib.so": b"B"})
    reporter = ListReporter()
    entries = installed.wheel_entries(
        [a[0], b[0]], {a[0].sha256: a[1], b[0].sha256: b[1]}, TARGET,
        compiler=None, compiler_version=None, layer="runtime", reporter=reporter,
    )  # fmt: skip
    shared = [e for e in entries if e.path.endswith("site-packages/nvidia/__init__.py")]
    assert len(shared) == 1
    assert [e.path for e in normalised(entries)] == sorted({e.path for e in entries})
    assert not [w for w in reporter.warnings if "shipped by" in w]


def test_a_file_shipped_with_different_bytes_is_the_one_pip_installs_last_with_a_warning(
    tmp_path: Path, _podlock_cache: Path
) -> None:
    zeta = _wheel(tmp_path, "zeta", {"shared/__init__.py": b"a = 'zeta'\n"})
    alpha = _wheel(tmp_path, "alpha", {"shared/__init__.py": b"a = 'alpha'\n"})
    mid = _wheel(tmp_path, "mid", {"shared/__init__.py": b"a = 'mid'\n"})
    for order in ([zeta, alpha, mid], [mid, zeta, alpha]):
        reporter = ListReporter()
        entries = installed.wheel_entries(
            [w for w, _ in order], {w.sha256: p for w, p in order}, TARGET,
            compiler=None, compiler_version=None, layer="deps", reporter=reporter,
        )  # fmt: skip
        # `pip install --no-deps -r` installs zeta, mid, alpha (descending names): alpha's
        # copy is what pip leaves (checked against pip 23.2 and 26.3).
        shared = {p: d for p, d in _files(entries).items() if p.endswith("shared/__init__.py")}
        assert list(shared.values()) == [b"a = 'alpha'\n"]
        warned = [w for w in reporter.warnings if "shipped by" in w]
        assert len(warned) == 2
        assert all("shared/__init__.py" in w and "alpha's copy is kept" in w for w in warned)
        assert any("zeta-1.0-py3-none-any.whl" in w for w in warned)


def test_a_path_that_is_a_file_in_one_wheel_and_a_directory_in_another_names_both(
    tmp_path: Path, _podlock_cache: Path
) -> None:
    one = _wheel(tmp_path, "one", {"shared": b"a = 1\n"})
    two = _wheel(tmp_path, "two", {"shared/__init__.py": b"a = 2\n"})
    with pytest.raises(LayerError, match=r"one-1\.0-py3-none-any\.whl and two-1\.0"):
        _entries(one, two)


def test_a_failed_install_leaves_no_tree(tmp_path: Path, _podlock_cache: Path) -> None:
    good = _wheel(tmp_path, "good", {"good/__init__.py": b""})
    evil = _wheel(tmp_path, "evil", {"evil/__init__.py": b"", "../../../../etc/evil": b"x"})
    with pytest.raises(LayerError, match=r"evil-1\.0-py3-none-any\.whl"):
        _entries(good, evil)
    assert not list((_podlock_cache / "oci" / "installed").glob("*"))
    assert not list((_podlock_cache / "oci" / "tmp").glob("tree-*"))
