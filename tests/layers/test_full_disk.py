"""A disk that fills mid-build (ENOSPC, simulated at a chosen write): a DiskFull error that
names the filesystem and `podlock prune`, no partial file left under any name, and a rerun
without the fault succeeds."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oci_helpers import make_wheel
from podlock.cli.main import main
from podlock.errors import DiskFull
from podlock.layers import fetch as fetch_module
from podlock.layers import installed
from podlock.layers.fetch import fetch_all
from podlock.layers.install import Target
from podlock.layers.tarlayer import file, write_layer
from podlock.layers.wheels import WheelCache
from podlock.oci import image as image_module
from podlock.paths import cache_dir
from podlock.plan.layerplan import Wheel
from podlock.registry import blobs as blobs_module
from podlock.registry.blobs import BlobStore
from podlock.reporter import NullReporter

TARGET = Target(python="3.11", interpreter="/usr/bin/python3.11")


def full(after: int, real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, which raises ENOSPC from its ``after``+1-th call on."""
    calls = {"n": 0}

    def write(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)

    return write


def local_wheel(tmp_path: Path, name: str = "pkg", size: int = 0) -> Wheel:
    files = {f"{name}/__init__.py": b"VALUE = 1\n", f"{name}/data.bin": os.urandom(size)}
    path = make_wheel(tmp_path / f"{name}-1.0-py3-none-any.whl", name, files)
    data = path.read_bytes()
    return Wheel(package=name, version="1.0", filename=path.name, url=path.as_uri(),
                 sha256=hashlib.sha256(data).hexdigest(), size=len(data))  # fmt: skip


def leftovers(root: Path) -> list[Path]:
    """Files whose names say they are partial: downloads, temporaries, scratch trees."""
    marks = (".part", ".tmp", "tree-")
    return [p for p in root.rglob("*") if any(m in p.name for m in marks)]


def test_full_disk_while_downloading_removes_the_part_and_the_rerun_fetches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = local_wheel(tmp_path, size=3 << 20)  # several 1 MiB chunks
    cache = WheelCache(tmp_path / "wheels")
    monkeypatch.setattr(fetch_module, "_copy", _copy_then_full)
    with pytest.raises(DiskFull) as caught:
        fetch_all(cache, [wheel])
    assert "the disk is full" in caught.value.message and str(cache.root) in caught.value.message
    assert caught.value.hint and "podlock prune" in caught.value.hint
    assert leftovers(cache.root) == [] and not cache.path(wheel).exists()
    monkeypatch.undo()
    assert fetch_all(cache, [wheel])[wheel.sha256].read_bytes() == Path(wheel.url[7:]).read_bytes()


def _copy_then_full(chunks: Any, out: Any, sha: Any, progress: Any) -> None:
    out.write(next(iter(chunks)))  # one chunk lands, then the disk is full
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_while_installing_a_tree_leaves_no_scratch_and_no_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = [local_wheel(tmp_path, "one"), local_wheel(tmp_path, "two")]
    paths = {w.sha256: Path(w.url[7:]) for w in wheels}
    real = installed.install_wheels
    monkeypatch.setattr(installed, "install_wheels", full(1, real))  # the second wheel fails

    def entries() -> Any:
        return installed.wheel_entries(wheels, paths, TARGET, compiler=None,
                                       compiler_version=None, layer="deps",
                                       reporter=NullReporter())  # fmt: skip

    with pytest.raises(DiskFull, match=r"the disk is full.*oci/tmp"):
        entries()
    oci = cache_dir() / "oci"
    assert list((oci / "tmp").iterdir()) == []  # the first wheel's finished scratch went too
    assert not (oci / "installed").exists() or list((oci / "installed").iterdir()) == []
    monkeypatch.setattr(installed, "install_wheels", real)
    assert any(e.path.endswith("one/__init__.py") for e in entries())


def test_full_disk_while_writing_a_layer_blob_leaves_no_partial_blob(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path / "blobs")
    entries = [file(f"f{i}", os.urandom(1 << 20)) for i in range(4)]
    real = blobs_module.BlobWriter.write
    monkeypatch.setattr(blobs_module.BlobWriter, "write", full(1, real))
    with pytest.raises(DiskFull) as caught:
        write_layer(entries, store, compression="gzip", mtime=0)
    assert str(store.root / "sha256") in caught.value.message
    assert list((store.root / "sha256").iterdir()) == []
    monkeypatch.setattr(blobs_module.BlobWriter, "write", real)
    blob = write_layer(entries, store, compression="gzip", mtime=0)
    assert hashlib.sha256(store.read(blob.digest)).hexdigest() == blob.digest[7:]


def test_full_disk_while_copying_a_blob_out_or_recording_a_layer_leaves_nothing_half(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path / "blobs")
    digest = store.put(b"x" * 4096)

    def no_link(*args: Any) -> None:
        raise OSError(errno.EXDEV, "cross-device link")  # so the blob is copied

    monkeypatch.setattr(os, "link", no_link)
    monkeypatch.setattr(shutil, "copyfile", _half_copy)
    out = tmp_path / "layout" / "blob"
    with pytest.raises(DiskFull):
        store.copy_into(digest, out)
    assert list(out.parent.iterdir()) == []
    blob = write_layer([file("a", b"a")], store, compression="gzip", mtime=0)
    monkeypatch.setattr(os, "fdopen", _filling)
    with pytest.raises(DiskFull):
        image_module.remember("key", blob)
    assert list(image_module.memos_root().iterdir()) == []


class _FillingFile(io.BufferedWriter):
    """A file on a disk that fills halfway through the first write."""

    def write(self, data: Any) -> int:
        super().write(bytes(data)[: len(data) // 2])
        self.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _filling(fd: int, mode: str = "wb", *args: Any, **kwargs: Any) -> _FillingFile:
    return _FillingFile(io.FileIO(fd, mode))


def _half_copy(src: Path, dst: Path) -> None:
    Path(dst).write_bytes(Path(src).read_bytes()[:100])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_the_cli_reports_any_full_disk_as_an_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from podlock.cli import prune

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(cache_dir() / "x" / "f"))

    monkeypatch.setattr(prune, "prune", fail)
    code = main(["prune", "--no-engine"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "podlock: error: the disk is full" in err and str(cache_dir() / "x") in err
    assert "podlock prune" in err
