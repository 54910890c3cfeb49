"""A daemonless build's progress, as a person at a terminal and a CI log see it: the CLI
runs in a child process under a pseudo-terminal, then with stderr piped."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from testkit import child_env

AMOUNT = re.compile(r"\d+(\.\d+)?/\d+(\.\d+)? (bytes|kB|MB|GB)")


def build_args(root: Path, base: str) -> list[str]:
    return [sys.executable, "-m", "podlock", "build", "--builder", "oci",
            "--project", str(root), "--variant", "cpu", "--base", base]  # fmt: skip


def test_a_terminal_sees_redrawn_bars_with_amounts(
    hello: Callable[..., Path], base_archive: str
) -> None:
    root = hello()
    master, slave = pty.openpty()
    env = child_env({"TERM": "xterm-256color", "COLUMNS": "120"})
    child = subprocess.Popen(
        build_args(root, base_archive), stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child and its terminal are gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert child.wait(timeout=300) == 0
    text = b"".join(chunks).decode(errors="replace")
    assert "\x1b[" in text  # cursor movement: the display redraws in place
    assert "downloading" in text and AMOUNT.search(text), text[-2000:]
    assert "downloaded" in text and "sha256:" in text


def test_a_pipe_gets_a_few_plain_lines_and_no_escape_codes(
    hello: Callable[..., Path], base_archive: str
) -> None:
    root = hello()
    done = subprocess.run(
        build_args(root, base_archive), capture_output=True, text=True, env=child_env(), timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stderr and "\r" not in done.stderr
    lines = done.stderr.splitlines()
    assert any(re.fullmatch(r"podlock: downloading \d+ wheels \([\d.]+ MB\)", x) for x in lines)
    assert any(x.startswith("podlock: downloaded ") for x in lines)
    assert "podlock: installing, archiving and compressing layers" in lines
    assert len(lines) < 40, done.stderr
    assert done.stdout.strip().startswith("sha256:")
