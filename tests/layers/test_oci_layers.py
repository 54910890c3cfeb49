"""The deterministic tar writer and the byte-stable JSON, on their own."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

from podlock.layers.tarlayer import (
    directory,
    file,
    normalised,
    symlink,
    tree,
    write_layer,
    write_tar,
)
from podlock.registry.blobs import BlobStore
from podlock.registry.model import canonical


def tar_bytes(entries: list, mtime: int = 315532800) -> bytes:  # type: ignore[type-arg]
    out = io.BytesIO()
    write_tar(normalised(entries), out.write, mtime=mtime)
    return out.getvalue()


def test_entries_are_sorted_with_parents_fixed_owner_mtime_and_modes(tmp_path: Path) -> None:
    host = tmp_path / "x.py"
    host.write_text("print(1)\n")
    os.chmod(host, 0o700)  # a umask/mode that must not leak
    data = tar_bytes(
        [
            file("opt/venv/bin/tool", b"#!/opt/venv/bin/python\n", executable=True),
            file("app/x.py", host),
            symlink("opt/venv/bin/python", "/usr/bin/python3.11"),
        ]
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [
        "app",
        "app/x.py",
        "opt",
        "opt/venv",
        "opt/venv/bin",
        "opt/venv/bin/python",
        "opt/venv/bin/tool",
    ]
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 315532800)
        assert not m.pax_headers
    modes = {m.name: m.mode for m in members}
    assert modes["app"] == 0o755 and modes["app/x.py"] == 0o644
    assert modes["opt/venv/bin/tool"] == 0o755 and modes["opt/venv/bin/python"] == 0o777


def test_long_and_non_ascii_names_use_gnu_headers_not_pax() -> None:
    long = "site-packages/" + "a" * 150 + "/ünïcode.py"
    data = tar_bytes([file(long, b"x")])
    assert b"././@LongLink" in data and b"PaxHeader" not in data
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames()[-1] == long


def test_hard_links_become_two_files(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"same")
    os.link(tmp_path / "a", tmp_path / "b")
    with tarfile.open(fileobj=io.BytesIO(tar_bytes(tree(tmp_path, layer="t")))) as tar:
        assert [m.type for m in tar.getmembers()] == [tarfile.REGTYPE, tarfile.REGTYPE]


def test_same_entries_give_the_same_layer_and_gzip_header_is_fixed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "store")
    entries = [directory("opt"), file("opt/a", b"hello" * 1000)]
    one = write_layer(entries, store, compression="gzip", mtime=1)
    two = write_layer(list(reversed(entries)), store, compression="gzip", mtime=1)
    assert one == two
    raw = store.read(one.digest)
    assert raw[:10] == bytes.fromhex("1f8b08000000000000ff")  # no name, mtime 0, OS 255
    assert gzip.decompress(raw) == tar_bytes(entries, mtime=1)
    other = write_layer(entries, store, compression="gzip", mtime=2)
    assert other.diff_id != one.diff_id  # the mtime is part of the bytes


def test_canonical_json_is_byte_stable() -> None:
    assert (
        canonical({"b": 1, "a": {"d": [1, 2], "c": "é"}})
        == '{"a":{"c":"é","d":[1,2]},"b":1}'.encode()
    )
