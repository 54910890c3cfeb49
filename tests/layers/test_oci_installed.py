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
from podlock.layers.tarlayer import LayerError
from podlock.plan.layerplan import Wheel
from podlock.reporter import NullReporter
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


def test_two_wheels_shipping_one_file_name_both(tmp_path: Path) -> None:
    one = _wheel(tmp_path, "one", {"shared/__init__.py": b"a = 1\n"})
    two = _wheel(tmp_path, "two", {"shared/__init__.py": b"a = 2\n"})
    with pytest.raises(LayerError, match=r"two-1\.0-py3-none-any\.whl .*from one-1\.0"):
        _entries(one, two)


def test_a_failed_install_leaves_no_tree(tmp_path: Path, _podlock_cache: Path) -> None:
    good = _wheel(tmp_path, "good", {"good/__init__.py": b""})
    evil = _wheel(tmp_path, "evil", {"evil/__init__.py": b"", "../../../../etc/evil": b"x"})
    with pytest.raises(LayerError, match=r"evil-1\.0-py3-none-any\.whl"):
        _entries(good, evil)
    assert not list((_podlock_cache / "oci" / "installed").glob("*"))
    assert not list((_podlock_cache / "oci" / "tmp").glob("tree-*"))
