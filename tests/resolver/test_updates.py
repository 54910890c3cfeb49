"""What is out of date, and what an upgrade changed: `outdated` and `lock --report`, on a
private copy of the fixture index where a release is published between two locks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from test_freshness import own_index, publish
from test_lock_variants import load, make, pins

from index_server import IndexServer

__all__ = ["own_index"]  # a fixture, imported for pytest

FLAX = 'variants = ["cpu"]\n'


def test_outdated_names_the_release_published_after_the_lock(
    tmp_path: Path, own_index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, own_index, "flax\nidna\n", FLAX)
    assert cli("lock", "--project", str(root)).code == 0
    before = (root / "pylock.cpu.toml").read_bytes()
    current = cli("outdated", "--project", str(root), "--format", "json")
    assert current.code == 0, current.err
    assert json.loads(current.out) == {
        "variants": [{"variant": "cpu", "path": "pylock.cpu.toml", "packages": []}]
    }
    publish(own_index, "pypi", "idna", "3.11")
    result = cli("outdated", "--project", str(root), "--format", "json")
    assert result.code == 0, result.err
    (variant,) = json.loads(result.out)["variants"]
    assert variant["variant"] == "cpu"
    assert variant["packages"] == [
        {
            "name": "idna",
            "direct": True,
            "locked": "3.10",
            "latest_allowed": "3.11",
            "latest": "3.11",
        }
    ]
    assert (root / "pylock.cpu.toml").read_bytes() == before  # outdated writes nothing
    text = cli("outdated", "--project", str(root))
    assert text.code == 0
    assert "pylock.cpu.toml (cpu):" in text.out
    assert text.out.splitlines()[2].split() == ["idna", "3.10", "3.11", "3.11", "direct"]


def test_outdated_latest_allowed_follows_the_requirements(
    tmp_path: Path, own_index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, own_index, "flax\nidna<3.11\n", FLAX)
    assert cli("lock", "--project", str(root)).code == 0
    publish(own_index, "pypi", "idna", "3.11")
    result = cli("outdated", "--project", str(root), "--format", "json")
    assert result.code == 0, result.err
    (variant,) = json.loads(result.out)["variants"]
    (idna,) = [p for p in variant["packages"] if p["name"] == "idna"]
    assert (idna["locked"], idna["latest_allowed"], idna["latest"]) == ("3.10", "3.10", "3.11")
    assert variant["packages"][0]["direct"]  # direct dependencies come first


def test_upgrade_report_lists_the_upgrade_as_markdown_and_json(
    tmp_path: Path, own_index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, own_index, "flax\nidna\n", FLAX)
    assert cli("lock", "--project", str(root)).code == 0
    publish(own_index, "pypi", "idna", "3.11")
    report = tmp_path / "report.md"
    result = cli("lock", "--upgrade", "--project", str(root), "--report", str(report))
    assert result.code == 0, result.err
    assert pins(load(root, "cpu"))["idna"] == "3.11"
    body = report.read_text()
    assert body.startswith("## podlock lock --upgrade\n")
    assert "### `pylock.cpu.toml` (cpu): 1 upgraded" in body
    assert "| idna | upgraded | 3.10 | 3.11 |" in body
    # Nothing newer: the report says so, and the JSON form has the same shape as data.
    again = cli(
        "lock", "--upgrade-package", "idna", "--project", str(root),
        "--report", str(report), "--format", "json",
    )  # fmt: skip
    assert again.code == 0, again.err
    document = json.loads(again.out)
    (row,) = document["locks"]
    assert row["status"] == "up-to-date" and row["variant"] == "cpu"
    assert {"name": "idna", "version": "3.11"} in row["packages"]
    (changes,) = document["changes"]
    assert changes == {
        "variant": "cpu", "path": "pylock.cpu.toml",
        "upgraded": [], "downgraded": [], "added": [], "removed": [], "changed": [],
    }  # fmt: skip
    assert json.loads(report.read_text()) == {"changes": [changes]}


def test_report_of_added_and_removed_packages(
    tmp_path: Path, own_index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, own_index, "flax\n", FLAX)
    assert cli("lock", "--project", str(root)).code == 0
    (root / "requirements.txt").write_text("flax\nidna\n")
    report = tmp_path / "report.json"
    result = cli("lock", "--project", str(root), "--report", str(report), "--format", "json")
    assert result.code == 0, result.err
    (changes,) = json.loads(report.read_text())["changes"]
    assert changes["added"] == [{"name": "idna", "kind": "added", "old": None, "new": "3.10"}]
    assert changes["upgraded"] == changes["removed"] == []
    (row,) = json.loads(result.out)["locks"]
    assert row["status"] == "written" and row["reason"] == ""
