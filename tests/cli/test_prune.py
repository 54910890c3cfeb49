"""``podlock prune``: what was used lately stays, what was not goes, and a dry run lists."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from podlock.cli.caches import prune as prune_cache
from podlock.cli.caches import since
from podlock.launcher.local import STAMP
from podlock.layers.fetch import fetch_all
from podlock.layers.wheels import WheelCache
from podlock.paths import cache_dir
from podlock.plan.layerplan import Wheel

OLD = time.time() - 40 * 86400


def age(*paths: Path) -> None:
    for path in paths:
        os.utime(path, (OLD, OLD))


def cache_with_one_of_each(root: Path) -> dict[str, Path]:
    """An old and a fresh entry of each kind, as the builders and `podlock run` leave them."""
    made: dict[str, Path] = {}
    for when in ("old", "new"):
        data = f"{when} wheel".encode()
        sha = hashlib.sha256(data).hexdigest()
        wheel = root / "wheels" / sha[:2] / sha / f"{when}-1.0-py3-none-any.whl"
        wheel.parent.mkdir(parents=True)
        wheel.write_bytes(data)
        tree = root / "oci" / "installed" / f"{when}-tree"
        (tree / "opt").mkdir(parents=True)
        (tree / "opt" / "f.py").write_text("x = 1\n")
        venv = root / "venvs" / f"proj-cpu-{when}"
        venv.mkdir(parents=True)
        (venv / STAMP).write_text("{}")
        blob = f"{when} layer".encode()
        digest = hashlib.sha256(blob).hexdigest()
        (root / "oci" / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci" / "blobs" / "sha256" / digest).write_bytes(blob)
        memo = root / "oci" / "layers" / f"{when}.json"
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(json.dumps({"digest": f"sha256:{digest}", "size": len(blob)}))
        made |= {f"{when}-wheel": wheel.parent, f"{when}-tree": tree, f"{when}-venv": venv,
                 f"{when}-blob": root / "oci" / "blobs" / "sha256" / digest,
                 f"{when}-memo": memo}  # fmt: skip
        if when == "old":
            age(wheel, tree, venv / STAMP, memo)
    return made


def test_prune_removes_what_was_not_used_and_keeps_the_rest() -> None:
    made = cache_with_one_of_each(cache_dir())
    listed = prune_cache(30, dry_run=True)
    assert sorted(r.what for r in listed) == [
        "installed tree", "layer blob", "run venv", "wheel"
    ]  # fmt: skip
    assert all(path.exists() for path in made.values())  # a dry run removes nothing
    removed = prune_cache(30)
    assert [(r.name, r.size) for r in removed] == [(r.name, r.size) for r in listed]
    assert {r.size for r in removed if r.what == "wheel"} == {len(b"old wheel")}
    for name, path in made.items():
        assert path.exists() == name.startswith("new"), name
    assert not list(cache_dir().rglob("*.prune-*"))  # nothing left half-deleted
    assert prune_cache(30) == []


def test_a_blob_another_kept_layer_names_stays() -> None:
    made = cache_with_one_of_each(cache_dir())
    twin = cache_dir() / "oci" / "layers" / "twin.json"
    twin.write_text(made["old-memo"].read_text())  # the same blob, used just now
    prune_cache(30)
    assert made["old-blob"].exists() and not made["old-memo"].exists()


def test_using_a_cached_wheel_marks_it_used(tmp_path: Path) -> None:
    data = b"a wheel"
    source = tmp_path / "a-1.0-py3-none-any.whl"
    source.write_bytes(data)
    wheel = Wheel(package="a", version="1.0", filename=source.name, url=source.as_uri(),
                  sha256=hashlib.sha256(data).hexdigest(), size=len(data))  # fmt: skip
    cache = WheelCache()
    path = fetch_all(cache, [wheel])[wheel.sha256]
    age(path)
    assert [r.what for r in prune_cache(30, dry_run=True)] == ["wheel"]
    fetch_all(cache, [wheel])  # a later build reuses it
    assert prune_cache(30) == [] and path.exists()


def test_engine_tag_times_are_read() -> None:
    assert since("2026-11-21T07:03:12.123456789Z") == since("2026-11-21T07:03:12.123456Z")
    assert abs(since("2026-11-21T07:03:12Z") - 1795244592) < 1
    assert since("") == 0.0


def test_cli_refuses_a_negative_age(cli: Any) -> None:
    result = cli("prune", "--older-than", "-1", "--no-engine")
    assert result.code == 2 and "cannot be negative" in result.err


def test_cli_lists_then_removes(cli: Any) -> None:
    made = cache_with_one_of_each(cache_dir())
    dry = cli("prune", "--dry-run", "--no-engine")
    assert dry.code == 0 and "would remove wheel wheels/" in dry.out
    assert made["old-tree"].exists()
    done = cli("prune", "--no-engine")
    assert done.code == 0 and "removed 4 cache entries" in done.out
    assert not made["old-tree"].exists() and made["new-tree"].exists()
