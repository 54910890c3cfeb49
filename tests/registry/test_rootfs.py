"""One reader of a base's layers, with the OCI whiteout rules, for both of its callers: the
daemonless builder's interpreter detection and the system-package step's base files."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
import zstandard

from podlock.oci.interpreter import interpreters
from podlock.registry.base import BaseImage
from podlock.registry.blobs import BlobStore
from podlock.registry.model import LAYER_GZIP, LAYER_ZSTD, Descriptor
from podlock.registry.rootfs import ImageFile, LayerUnreadable, apply_layer, read_rootfs
from podlock.system.basefs import base_files

# (path, what): "/" a directory, "-> T" a symlink, "=> T" a hard link, else a file's text
Layer = list[tuple[str, str]]

LOWER: Layer = [
    ("bin", "-> usr/bin"),
    ("lib", "-> usr/lib"),
    ("etc/os-release", "ID=debian\n"),
    ("etc/apt/sources.list.d/", "/"),
    ("etc/apt/sources.list.d/a.list", "deb http://a bookworm main\n"),
    ("etc/apt/sources.list.d/b.list", "deb http://b bookworm main\n"),
    ("etc/apt/trusted.gpg.d/", "/"),
    ("etc/apt/trusted.gpg.d/k.gpg", "key\n"),
    ("var/lib/dpkg/status", "Package: base-files\n"),
    ("usr/bin/python3.11", "elf\n"),
    ("usr/local/bin/", "/"),
    ("usr/local/bin/python3.11", "elf\n"),
    ("usr/local/bin/python3.12", "elf\n"),
    ("opt/python/bin/python3.10", "elf\n"),
]
UPPER: Layer = [
    # the directory deleted and part of it recreated, in one layer (the whiteout is for the
    # layers below only, wherever it stands in the tar)
    ("etc/apt/sources.list.d/", "/"),
    ("etc/apt/sources.list.d/b.list", "deb http://b2 bookworm main\n"),
    ("etc/apt/.wh.sources.list.d", ""),
    # an opaque directory: the lower children go, this layer's stay (marker after them)
    ("usr/local/bin/python3.13", "elf\n"),
    ("usr/local/bin/.wh..wh..opq", ""),
    ("usr/bin/.wh.python3.11", ""),  # a file's whiteout
    ("opt/.wh.python", ""),  # a directory's, with all under it
    (".wh.lib", ""),
]
TOP: Layer = [
    ("etc/apt/sources.list.d/a.list", "deb http://a3 bookworm main\n"),  # a deleted file back
    ("etc/apt/sources.list.d/c.list", "=> etc/apt/sources.list.d/a.list"),
    ("etc/apt/trusted.gpg.d", "-> ../../usr/share/keyrings"),  # a directory made a symlink
    ("usr/bin/python3.11", "-> ../local/bin/python3.13"),
]
MERGED = {  # what `docker run` of these layers would show of those paths
    "bin": ("symlink", None),
    "etc/os-release": ("file", "ID=debian\n"),
    "etc/apt/sources.list.d": ("dir", None),
    "etc/apt/sources.list.d/a.list": ("file", "deb http://a3 bookworm main\n"),
    "etc/apt/sources.list.d/b.list": ("file", "deb http://b2 bookworm main\n"),
    "etc/apt/sources.list.d/c.list": ("hardlink", "deb http://a3 bookworm main\n"),
    "etc/apt/trusted.gpg.d": ("symlink", None),
    "var/lib/dpkg/status": ("file", "Package: base-files\n"),
    "usr/bin/python3.11": ("symlink", None),
    "usr/local/bin": ("dir", None),
    "usr/local/bin/python3.13": ("file", "elf\n"),
}


def tar_of(layer: Layer) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, what in layer:
            info = tarfile.TarInfo(path.rstrip("/"))
            data = b""
            if what == "/":
                info.type = tarfile.DIRTYPE
            elif what.startswith("-> "):
                info.type, info.linkname = tarfile.SYMTYPE, what[3:]
            elif what.startswith("=> "):
                info.type, info.linkname = tarfile.LNKTYPE, what[3:]
            else:
                data = what.encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def image_of(store: BlobStore, *layers: Layer, zstd: bool = False) -> BaseImage:
    descriptors = []
    for layer in layers:
        raw = tar_of(layer)
        blob = zstandard.ZstdCompressor().compress(raw) if zstd else gzip.compress(raw, mtime=0)
        descriptors.append(
            Descriptor(
                media_type=LAYER_ZSTD if zstd else LAYER_GZIP,
                digest=store.put(blob),
                size=len(blob),
            )
        )
    return BaseImage(
        name="test/base",
        digest="sha256:" + "1" * 64,
        pinned="test/base@sha256:" + "1" * 64,
        platform="linux/amd64",
        config={"os": "linux", "architecture": "amd64", "layers": [d.digest for d in descriptors]},
        layers=tuple(descriptors),
        diff_ids=(),
    )


def shown(tree: dict[str, ImageFile]) -> dict[str, tuple[str, str | None]]:
    return {
        p: (f.kind, f.data.decode() if f.data is not None else None)
        for p, f in tree.items()
        if p in MERGED or f.kind != "dir"
    }


@pytest.mark.parametrize("zstd", [False, True], ids=["gzip", "zstd"])
def test_whiteouts_opaque_directories_and_recreated_paths_follow_the_oci_rules(
    tmp_path: Path, zstd: bool
) -> None:
    store = BlobStore(tmp_path / "blobs")
    image = image_of(store, LOWER, UPPER, TOP, zstd=zstd)
    tree = read_rootfs(image, store, keep=lambda p: True, read=lambda p: True)
    assert shown(tree) == MERGED
    assert not [p for p in tree if "/.wh." in f"/{p}"], "a whiteout is never a file"


def test_both_callers_see_the_one_merged_tree(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    image = image_of(store, LOWER, UPPER, TOP)
    # the builder: /usr/local/bin's and /opt/python's lower interpreters are gone
    assert interpreters(image, store) == {
        "3.11": "/usr/bin/python3.11",
        "3.13": "/usr/local/bin/python3.13",
    }
    files = base_files(image, store, "test/base")
    assert {p: v.decode() for p, v in files.files.items()} == {
        p: text for p, (_, text) in MERGED.items() if text is not None and not p.startswith("usr/")
    }
    assert dict(files.root_links) == {"bin": "usr/bin"}


def test_a_layer_applies_only_to_the_layers_below_it_whatever_its_tar_order() -> None:
    tree: dict[str, ImageFile] = {}
    for layer in (LOWER, UPPER):
        with tarfile.open(fileobj=io.BytesIO(tar_of(layer)), mode="r|") as tar:
            apply_layer(tree, tar, keep=lambda p: p.startswith("usr/local/bin/"))
    assert sorted(tree) == ["usr/local/bin/python3.13"]
    again = [(".wh.usr", ""), ("usr/local/bin/python3.14", "elf\n")]
    with tarfile.open(fileobj=io.BytesIO(tar_of(again)), mode="r|") as tar:
        apply_layer(tree, tar, keep=lambda p: True)
    assert sorted(tree) == ["usr/local/bin/python3.14"]


def test_an_unreadable_layer_is_named_with_its_base(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    image = image_of(store, LOWER, UPPER)
    bad = image.layers[1].digest
    path = store.path(bad)
    path.chmod(0o644)
    path.write_bytes(gzip.compress(tar_of(UPPER))[:30] + bytes(200))  # damaged
    with pytest.raises(LayerUnreadable, match=rf"layer {bad} of the base image test/base") as e:
        read_rootfs(image, store, keep=lambda p: True)
    assert str(path) in (e.value.hint or "")
    path.unlink()
    with pytest.raises(LayerUnreadable, match="No such file"):
        base_files(image, store, "test/base")
