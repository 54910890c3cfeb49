"""Bad input and faults: each is a clear error, and nothing corrupt is left in the caches."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from index_server import PRIVATE_PASSWORD, IndexServer
from oci_helpers import make_wheel, oci_build
from podlock.errors import HashMismatch
from podlock.layers.fetch import fetch_all
from podlock.layers.install import Target, install_wheels
from podlock.layers.tarlayer import LayerError, tree
from podlock.layers.wheels import WheelCache
from podlock.plan.layerplan import Wheel
from podlock.registry import blobs as blobs_module
from podlock.registry.blobs import BlobStore
from testkit import blob, layout_manifest


def test_tampered_wheel_is_refused_and_never_cached(
    hello: Callable[..., Path], cli: Any, base_archive: str, _podlock_cache: Path
) -> None:
    root = hello()
    lock = root / "pylock.cpu.toml"
    text = lock.read_text()
    good = re.search(
        r'name = "flax-0.10.0-py3-none-any.whl"(?s:.*?)sha256 = "([0-9a-f]{64})"', text
    )
    assert good
    lock.write_text(text.replace(good.group(1), "0" * 64))
    result = oci_build(cli, root, "--base", base_archive)
    assert result.code != 0
    assert "hash mismatch for flax" in result.err and "0" * 64 in result.err
    cached = [
        p for p in (_podlock_cache / "wheels").rglob("flax-*") if p.suffix in (".whl", ".part")
    ]
    assert cached == [], cached


def test_interrupted_download_resumes_with_range_and_a_corrupt_part_is_dropped(
    index: IndexServer, tmp_path: Path
) -> None:
    url = index.url("pypi").rstrip("/").removesuffix("/simple").rstrip("/") + "/files"
    data = requests.get(f"{url}/bigpkg-1.0-py3-none-any.whl", timeout=10).content
    wheel = Wheel(
        package="bigpkg",
        version="1.0",
        filename="bigpkg-1.0-py3-none-any.whl",
        url=f"{url}/bigpkg-1.0-py3-none-any.whl",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    cache = WheelCache(tmp_path / "wheels")
    part = cache.path(wheel).with_name(wheel.filename + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[: len(data) // 2])  # an earlier build was interrupted here
    paths = fetch_all(cache, [wheel])
    assert paths[wheel.sha256].read_bytes() == data and not part.exists()
    assert any(
        r.headers.get("range") == f"bytes={len(data) // 2}-"
        for r in index.requests
        if r.path.endswith(wheel.filename)
    )
    other = WheelCache(tmp_path / "other")
    bad = other.path(wheel).with_name(wheel.filename + ".part")
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"X" * (len(data) // 2))  # a corrupt partial file
    with pytest.raises(HashMismatch):
        fetch_all(other, [wheel])
    assert not bad.exists() and not other.path(wheel).exists()
    assert fetch_all(other, [wheel])[wheel.sha256].read_bytes() == data  # the rerun succeeds


@pytest.mark.parametrize(
    "bad", ["../../../../etc/evil", "/etc/evil", "evil-1.0.data/data/../../../etc/evil"]
)
def test_wheel_writing_outside_the_venv_is_refused(tmp_path: Path, bad: str) -> None:
    path = make_wheel(
        tmp_path / "evil-1.0-py3-none-any.whl", "evil", {"evil/__init__.py": b"", bad: b"x"}
    )
    w = Wheel(package="evil", version="1.0", filename=path.name, url="", sha256="0", size=0)
    root = tmp_path / "root"
    with pytest.raises(LayerError, match=r"layer deps: wheel evil-1\.0-py3-none-any\.whl"):
        install_wheels(
            [(w, path)],
            root,
            Target(python="3.11", interpreter="/usr/bin/python3.11"),
            layer="deps",
        )
    assert not list(tmp_path.rglob("etc"))


def test_symlink_escaping_a_layer_tree_is_refused(tmp_path: Path) -> None:
    (tmp_path / "opt").mkdir()
    (tmp_path / "opt" / "link").symlink_to("../../../etc/passwd")
    with pytest.raises(LayerError, match="points outside the layer"):
        tree(tmp_path, layer="deps")


def test_code_package_symlink_out_of_the_project_is_refused(
    hello: Callable[..., Path], cli: Any, base_archive: str, tmp_path: Path, monkeypatch: Any
) -> None:
    root = hello()
    secret = tmp_path / "outside.txt"
    secret.write_text("outside the project")
    import podlock.plan.load as plan_load
    from podlock.plan import codepackage

    real = codepackage.collect

    def collect_then_swap(path: Path, *args: Any, **kw: Any) -> Any:
        package = real(path, *args, **kw)  # a file becomes a symlink after it was listed
        (root / "pkg" / "greeting.py").unlink()
        (root / "pkg" / "greeting.py").symlink_to(secret)
        return package

    monkeypatch.setattr(plan_load, "collect", collect_then_swap)
    result = oci_build(cli, root, "--base", base_archive)
    assert result.code != 0 and "pkg/greeting.py points outside the project" in result.err


def test_unknown_base_references_are_clear_errors(
    hello: Callable[..., Path], cli: Any, registry: str, tmp_path: Path
) -> None:
    root = hello()
    missing = oci_build(cli, root, "--base", f"{registry}/podlock-test/no-such-base:1")
    assert missing.code != 0
    assert "cannot get base image" in missing.err and "not found" in missing.err
    nofile = oci_build(cli, root, "--base", f"docker-archive:{tmp_path}/nope.tar")
    assert nofile.code != 0 and "no such file" in nofile.err
    garbage = oci_build(cli, root, "--base", "Not A Reference!")
    assert garbage.code != 0 and "not an image reference" in garbage.err


def test_base_without_the_lock_python_is_a_clear_error(
    hello: Callable[..., Path], base_archive: str
) -> None:
    from podlock.oci.interpreter import NoInterpreter, interpreter_for
    from podlock.registry.base import open_base
    from podlock.reporter import NullReporter

    store = BlobStore()
    base = open_base(base_archive, ["linux/amd64"], store, NullReporter())["linux/amd64"]
    assert interpreter_for(base, "3.11", store) == "/usr/bin/python3.11"
    with pytest.raises(
        NoInterpreter, match=r"has no python3.12 .* it has 3.11 \(/usr/bin/python3.11\)"
    ):
        interpreter_for(base, "3.12", store)


def test_full_disk_while_writing_leaves_no_partial_blob_and_the_rerun_works(
    hello: Callable[..., Path], cli: Any, base_archive: str, _podlock_cache: Path, monkeypatch: Any
) -> None:
    root = hello()
    real = blobs_module.BlobWriter.write
    calls = {"n": 0}

    def full(self: Any, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] > 50:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(blobs_module.BlobWriter, "write", full)
    result = oci_build(cli, root, "--base", base_archive)
    assert result.code != 0 and "free some disk space" in result.err
    store = _podlock_cache / "oci" / "blobs" / "sha256"
    assert not [p for p in store.iterdir() if p.name.startswith(".tmp-")]
    for path in store.iterdir():  # every blob left is complete: its name is its hash
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    monkeypatch.setattr(blobs_module.BlobWriter, "write", real)
    again = oci_build(cli, root, "--base", base_archive)
    assert again.code == 0, again.err


def test_private_index_credentials_never_reach_layers_or_config(
    hello: Callable[..., Path],
    cli: Any,
    base_archive: str,
    index: IndexServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    root = hello(private=True)
    out = tmp_path / "layout"
    result = oci_build(cli, root, "--base", base_archive, "--output-dir", str(out))
    assert result.code == 0, result.err
    assert PRIVATE_PASSWORD not in result.err + result.out
    manifest = layout_manifest(out)
    seen = blob(out, manifest["config"]["digest"])
    for layer in manifest["layers"][1:]:  # podlock's layers (the base is Debian's)
        seen += gzip.decompress(blob(out, layer["digest"]))
    assert b"secretpkg" in seen
    assert PRIVATE_PASSWORD.encode() not in seen  # (requirements.txt keeps its ${PRIV_TOKEN})
    names = json.dumps(manifest).encode()
    assert PRIVATE_PASSWORD.encode() not in names


def test_daemonless_builder_refuses_docker_only_flags(
    hello: Callable[..., Path],
    cli: Any,
    index: IndexServer,
    base_archive: str,
) -> None:
    root = hello()
    flags = oci_build(cli, root, "--base", base_archive, "--network", "host")
    assert flags.code != 0 and "--network is for the docker builder" in flags.err
    mode = oci_build(cli, root, "--mode", "prebuilt")
    assert mode.code != 0 and "needs the Docker engine" in mode.err


def test_a_build_the_disk_cannot_hold_stops_before_writing_and_names_the_fix(
    hello: Callable[..., Path], cli: Any, base_archive: str, _podlock_cache: Path, monkeypatch: Any
) -> None:
    root = hello()
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=10**6))
    result = oci_build(cli, root, "--base", base_archive)
    assert result.code != 0 and "Traceback" not in result.err
    assert "not enough disk space for the layers of hello:cpu" in result.err
    assert f"under {_podlock_cache}" in result.err and "1.0 MB free" in result.err
    assert "podlock prune" in result.err
    assert not list((_podlock_cache / "wheels").rglob("*.whl"))  # nothing was downloaded
    monkeypatch.setattr(shutil, "disk_usage", real)
    assert oci_build(cli, root, "--base", base_archive).code == 0


def test_full_disk_while_downloading_is_one_error_and_the_rerun_works(
    hello: Callable[..., Path], cli: Any, base_archive: str, _podlock_cache: Path, monkeypatch: Any
) -> None:
    from podlock.layers import fetch as fetch_module

    root = hello()
    real = fetch_module._Part.write

    def full(self: Any, data: bytes) -> int:
        self.fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fetch_module._Part, "write", full)
    result = oci_build(cli, root, "--base", base_archive)
    assert result.code != 0 and "Traceback" not in result.err
    assert "the disk is full" in result.err and str(_podlock_cache / "wheels") in result.err
    assert not list(_podlock_cache.rglob("*.part"))
    monkeypatch.setattr(fetch_module._Part, "write", real)
    again = oci_build(cli, root, "--base", base_archive)
    assert again.code == 0, again.err
