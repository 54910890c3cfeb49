"""The CLI's reporters: a redrawing display on a terminal, a few plain lines elsewhere."""

from __future__ import annotations

import io
import os
import pty
import re

import pytest

from podlock.cli.live import RichReporter
from podlock.cli.progress import PlainReporter, reporter_for

AMOUNT = re.compile(r"\d+(\.\d+)?/\d+(\.\d+)? (bytes|kB|MB|GB)")


def test_plain_task_says_its_start_and_end_not_every_advance() -> None:
    out = io.StringIO()
    reporter = PlainReporter(out, every=3600)
    task = reporter.task("downloading 3 wheels", total=3_000_000, unit="bytes")
    for _ in range(300):
        task.advance(10_000)
    task.done("downloaded 3 wheels (3.0 MB)")
    assert out.getvalue().splitlines() == [
        "podlock: downloading 3 wheels (3.0 MB)",
        "podlock: downloaded 3 wheels (3.0 MB)",
    ]


def test_plain_task_reports_progress_at_most_every_interval() -> None:
    out = io.StringIO()
    reporter = PlainReporter(out, every=0)
    task = reporter.task("layers", total=2)
    task.advance()
    task.advance()
    task.done()
    task.done("said once")  # a second done is ignored
    assert out.getvalue().splitlines() == [
        "podlock: layers",
        "podlock: layers: 1/2",
        "podlock: layers: 2/2",
    ]


def test_quiet_silences_progress_but_not_warnings() -> None:
    out = io.StringIO()
    reporter = PlainReporter(out, quiet=True)
    reporter.info("hidden")
    reporter.task("hidden too", total=1).done("and this")
    reporter.warn("shown")
    assert out.getvalue() == "podlock: warning: shown\n"


def test_a_pipe_gets_plain_lines_and_a_terminal_the_live_display() -> None:
    assert isinstance(reporter_for(io.StringIO(), quiet=False), PlainReporter)
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as tty:
        assert isinstance(reporter_for(tty, quiet=False), RichReporter)
        assert isinstance(reporter_for(tty, quiet=True), PlainReporter)
    os.close(master)


def test_rich_reporter_redraws_bars_with_amounts_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm")
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as tty:
        reporter = RichReporter(tty)
        download = reporter.task("downloading 2 wheels", total=2_000_000, unit="bytes")
        layers = reporter.task("layers", total=3)
        download.advance(1_000_000)
        layers.advance(2)
        download.advance(1_000_000)
        download.done("downloaded 2 wheels (2.0 MB)")
        layers.advance()
        layers.done()
        reporter.close()
    text = _drain(master)
    assert "\r" in text or "\x1b[" in text
    assert AMOUNT.search(text), text
    assert "3/3" in text
    assert "podlock: downloaded 2 wheels (2.0 MB)" in text


def _drain(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")
