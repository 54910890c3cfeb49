"""The target Python: config, else .python-version, else the existing locks, else the
running interpreter, whichever interpreter runs podlock."""

from __future__ import annotations

from pathlib import Path

import pytest

from podlock.errors import InputError
from podlock.inputs.discover import discover
from podlock.inputs.target_python import choose_python
from testkit import PYTHON


def lock_for(root: Path, variant: str, python: str) -> None:
    (root / f"pylock.{variant}.toml").write_text(
        f'lock-version = "1.0"\n[tool.podlock]\nvariant = "{variant}"\npython = "{python}"\n'
    )


def test_python_version_file_outranks_the_locks(tmp_path: Path) -> None:
    lock_for(tmp_path, "cpu", "3.10")
    (tmp_path / ".python-version").write_text("# pinned\ncpython@3.12.4\n")
    chosen = choose_python(tmp_path, ["cpu"])
    assert (chosen.version, chosen.origin, chosen.note) == ("3.12", ".python-version", None)


def test_the_locks_decide_when_nothing_else_does(tmp_path: Path) -> None:
    lock_for(tmp_path, "cpu", "3.10")
    lock_for(tmp_path, "tpu", "3.13")
    chosen = choose_python(tmp_path, ["cpu", "tpu"])
    assert (chosen.version, chosen.origin) == ("3.10", "pylock.cpu.toml")
    assert chosen.note is not None and "different Pythons" in chosen.note
    assert choose_python(tmp_path, ["tpu"]).version == "3.13"


def test_the_running_interpreter_is_the_last_resort_and_is_said(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy\n")
    inputs = discover(tmp_path)
    assert {v.python for v in inputs.config.variants} == {PYTHON}
    assert any(f"locking for Python {PYTHON}, the running interpreter" in n for n in inputs.notes)
    (tmp_path / "podlock.toml").write_text('python = "3.10"\n[variant.tpu]\npython = "3.13"\n')
    inputs = discover(tmp_path)
    assert [v.python for v in inputs.config.variants] == ["3.10", "3.10", "3.13"]
    assert not [n for n in inputs.notes if "running interpreter" in n]


def test_an_unreadable_python_version_names_its_line(tmp_path: Path) -> None:
    (tmp_path / ".python-version").write_text("\npypy3.10\n")
    with pytest.raises(InputError, match=r"\.python-version:2: cannot read a CPython version"):
        choose_python(tmp_path, ["cpu"])
