"""`lock` and `lock --check` with `--format json`: one document on stdout, a row per lock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from test_lock_variants import make

from index_server import IndexServer


def rows(out: str) -> dict[str, dict[str, Any]]:
    document = json.loads(out)
    assert list(document) == ["locks"]
    return {r["variant"]: r for r in document["locks"]}


def test_check_reports_each_state_as_json(tmp_path: Path, index: IndexServer, cli: Any) -> None:
    root = make(tmp_path, index, "idna\n", 'variants = ["cpu", "cuda", "tpu"]\n')
    missing = cli("lock", "--check", "--project", str(root), "--format", "json")
    assert missing.code == 1
    assert {v: r["status"] for v, r in rows(missing.out).items()} == dict.fromkeys(
        ("cpu", "cuda", "tpu"), "missing"
    )
    assert rows(missing.out)["cpu"]["packages"] == []
    assert "run `podlock lock`" in missing.err  # warnings stay on stderr

    written = cli("lock", "--project", str(root), "--format", "json")
    assert written.code == 0, written.err
    cpu = rows(written.out)["cpu"]
    assert cpu["status"] == "written"
    assert cpu["path"] == str(root / "pylock.cpu.toml")
    assert {"name": "idna", "version": "3.10"} in cpu["packages"]

    again = cli("lock", "--project", str(root), "--format", "json")
    assert {r["status"] for r in rows(again.out).values()} == {"up-to-date"}
    assert rows(again.out)["cpu"]["packages"] == cpu["packages"]

    (root / "pylock.cuda.toml").write_text("not toml [")
    (root / "requirements.txt").write_text("idna\nflax\n")
    checked = cli("lock", "--check", "--project", str(root), "--format", "json")
    assert checked.code == 1
    states = rows(checked.out)
    assert states["cpu"]["status"] == "stale"
    assert "requirements.txt" in states["cpu"]["reason"]
    assert {"name": "idna", "version": "3.10"} in states["cpu"]["packages"]
    assert states["cuda"]["status"] == "corrupt" and states["cuda"]["packages"] == []
    assert "pylock.cuda.toml: corrupt (" in states["cuda"]["reason"]


def test_check_json_of_up_to_date_locks_exits_0(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "idna\n", 'variants = ["cpu"]\n')
    assert cli("-q", "lock", "--project", str(root)).code == 0
    result = cli("lock", "--check", "--project", str(root), "--format", "json")
    assert result.code == 0
    (row,) = rows(result.out).values()
    assert (row["status"], row["reason"]) == ("up-to-date", "")
