"""Writes that appear whole or not at all: the old file until the rename, no temporary left
behind after a failure, and a directory race that keeps whichever build finished first."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from podlock.atomic import (
    directory_in_place,
    file_in_place,
    link_atomic,
    place_directory,
    write_atomic,
    write_entry,
)


def test_identical_content_is_not_written_again(tmp_path: Path) -> None:
    path = tmp_path / "pylock.toml"
    assert write_atomic(path, "a = 1\n") is True
    before = path.stat()
    assert write_atomic(path, "a = 1\n") is False
    assert write_atomic(path, b"a = 1\n") is False
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns
    assert write_atomic(path, "a = 2\n") is True
    assert path.read_text() == "a = 2\n" and path.stat().st_mode & 0o777 == 0o644


def test_an_error_mid_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "pylock.toml"
    path.write_text("old\n")

    def no_sync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", no_sync)
    with pytest.raises(OSError):
        write_atomic(path, "new\n")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pylock.toml"]


def test_a_cache_entry_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "entry.json"
    write_entry(path, b"{}")
    write_entry(path, b"{}")
    assert path.read_bytes() == b"{}" and [p.name for p in tmp_path.iterdir()] == ["entry.json"]


def test_a_file_written_in_pieces_appears_only_when_the_block_finishes(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    with file_in_place(path) as fh:
        fh.write(b"one ")
        assert not path.exists()
        fh.write(b"two")
    assert path.read_bytes() == b"one two"
    assert [p.name for p in tmp_path.iterdir()] == ["image.tar"]


def test_a_pieces_writer_that_fails_removes_its_temporary(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), file_in_place(path) as fh:
        fh.write(b"half")
        raise RuntimeError("cut short")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["image.tar"]


def test_a_file_named_by_its_bytes_is_named_after_the_block(tmp_path: Path) -> None:
    written: list[bytes] = []
    with file_in_place(lambda: tmp_path / written[0].decode(), folder=tmp_path) as fh:
        fh.write(b"abc")
        written.append(b"abc")
    assert (tmp_path / "abc").read_bytes() == b"abc" and len(list(tmp_path.iterdir())) == 1


def test_a_link_or_copy_lands_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "blob"
    src.write_bytes(b"x" * 100)
    link_atomic(src, tmp_path / "linked")
    assert (tmp_path / "linked").stat().st_ino == src.stat().st_ino

    def no_link(*args: Any) -> None:
        raise OSError(errno.EXDEV, "cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    link_atomic(src, tmp_path / "copied")
    assert (tmp_path / "copied").read_bytes() == src.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob", "copied", "linked"]


def _finished(path: Path) -> bool:
    return (path / "STAMP").is_file()


def test_a_directory_is_renamed_into_place_whole(tmp_path: Path) -> None:
    dest = tmp_path / "venv"
    with directory_in_place(dest, finished=_finished) as tmp:
        (tmp / "STAMP").write_text("ours")
        assert not dest.exists()
    assert (dest / "STAMP").read_text() == "ours"
    assert [p.name for p in tmp_path.iterdir()] == ["venv"]


def test_the_directory_race_keeps_the_winner_and_drops_ours(tmp_path: Path) -> None:
    dest = tmp_path / "venv"
    with directory_in_place(dest, finished=_finished) as tmp:
        (tmp / "STAMP").write_text("ours")
        (tmp / "extra").write_text("ours")
        dest.mkdir()  # another process finishes first
        (dest / "STAMP").write_text("theirs")
    assert (dest / "STAMP").read_text() == "theirs" and not (dest / "extra").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["venv"]


def test_a_failed_rename_onto_an_unfinished_directory_is_an_error(tmp_path: Path) -> None:
    dest = tmp_path / "tree"
    dest.mkdir()
    (dest / "half").write_text("no stamp")  # not finished: not a winner to keep
    tmp = tmp_path / "scratch"
    tmp.mkdir()
    (tmp / "STAMP").write_text("ours")
    with pytest.raises(OSError):
        place_directory(tmp, dest, finished=_finished)
    assert (tmp / "STAMP").is_file()  # the caller's to remove


def test_a_directory_build_that_fails_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "venv"
    scratch = tmp_path / f".venv.{os.getpid()}.tmp"
    scratch.mkdir()
    (scratch / "stale").write_text("a dead run's")
    with (
        pytest.raises(KeyboardInterrupt),
        directory_in_place(dest, finished=_finished, tmp=scratch) as tmp,
    ):
        assert tmp == scratch and list(tmp.iterdir()) == []
        (tmp / "half").write_text("x")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
