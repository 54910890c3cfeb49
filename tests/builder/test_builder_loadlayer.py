"""The ``docker load`` tarball that hands a host-installed layer to the engine."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from typing import Any

from podlock.builder.loadlayer import history, image_config, layer_tarball
from podlock.layers.tarlayer import directory, file, normalised, tar_chunks

PARENT: dict[str, Any] = {
    "Architecture": "amd64",
    "Os": "linux",
    "Config": {"Env": ["PATH=/opt/venv/bin:/usr/bin"], "Cmd": ["python"]},
    "RootFS": {"Type": "layers", "Layers": ["sha256:" + "a" * 64, "sha256:" + "b" * 64]},
}
# `docker history`, newest first: a RUN, an ENV (no layer), the imported base
HISTORY = [
    {"Created": 200, "CreatedBy": "/bin/sh -c make venv", "Size": 14_000},
    {"Created": 150, "CreatedBy": "/bin/sh -c #(nop)  ENV A=1", "Size": 0},
    {"Created": 100, "CreatedBy": "", "Size": 168_000_000, "Comment": "imported"},
]
ENTRIES = normalised(
    [directory("opt/venv/lib"), file("opt/venv/lib/m.py", b"x = 1\n"), file("opt/venv/r", b"r")]
)


def test_history_marks_the_entries_without_a_layer() -> None:
    out = history(HISTORY, 2)
    assert [h.get("empty_layer", False) for h in out] == [False, True, False]  # oldest first
    assert out[0]["comment"] == "imported" and out[0]["created"] == "1970-01-01T00:01:40Z"
    assert out[2]["created_by"] == "/bin/sh -c make venv"


def test_history_pairs_every_layer_with_an_entry() -> None:
    """A layer that holds nothing has size 0 too: the oldest such entries take up the
    layers the sizes leave unpaired; layers with no entry at all get one."""
    assert sum(not h.get("empty_layer") for h in history(HISTORY, 3)) == 3
    assert not history(HISTORY, 3)[1].get("empty_layer")
    padded = history(HISTORY, 4)
    assert len(padded) == 4 and sum(not h.get("empty_layer") for h in padded) == 4
    assert "no history" in padded[0]["comment"]
    assert len(history([], 2)) == 2


def test_tarball_holds_the_layer_its_config_and_manifest() -> None:
    stream = b"".join(layer_tarball(PARENT, HISTORY, ENTRIES, tag="podlock-layers/x:k",
                                    created_by="podlock: x", mtime=315532800))  # fmt: skip
    assert len(stream) % 10240 == 0
    with tarfile.open(fileobj=io.BytesIO(stream)) as tar:
        names = tar.getnames()
        read = {n: tar.extractfile(n).read() for n in names}  # type: ignore[union-attr]
    assert names == ["layer.tar", "config.json", "manifest.json"]
    layer = b"".join(tar_chunks(ENTRIES, mtime=315532800))
    assert read["layer.tar"] == layer  # podlock's own tar, byte for byte
    config = json.loads(read["config.json"])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    assert config["rootfs"]["diff_ids"] == [*PARENT["RootFS"]["Layers"], diff_id]
    assert config["config"] == PARENT["Config"]
    assert config["created"] == "1980-01-01T00:00:00Z"
    assert config["history"][-1] == {"created": "1980-01-01T00:00:00Z", "created_by": "podlock: x"}
    assert sum(not h.get("empty_layer") for h in config["history"]) == 3
    (manifest,) = json.loads(read["manifest.json"])
    assert manifest["Config"] == "config.json" and manifest["RepoTags"] == ["podlock-layers/x:k"]
    assert manifest["Layers"][-1] == "layer.tar" and len(manifest["Layers"]) == 3
    # one parent and one layer: one config, so one image ID
    assert image_config(PARENT, HISTORY, diff_id, "podlock: x", 315532800) == read["config.json"]
