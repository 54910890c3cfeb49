"""``podlock``'s own options: ``-q``/``-v`` before or after the command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podlock.cli.main import parser


@pytest.mark.parametrize(
    ("argv", "quiet", "verbose"),
    [
        (["-q", "lock"], True, False),
        (["lock", "-q"], True, False),
        (["lock", "--check", "--quiet", "-v"], True, True),
        (["-v", "lock"], False, True),
        (["lock"], False, False),
        (["jobs", "list", "-q"], True, False),
        (["-q", "export", "--variant", "cpu"], True, False),
    ],
)
def test_quiet_and_verbose_go_before_or_after_the_command(
    argv: list[str], quiet: bool, verbose: bool
) -> None:
    args = parser(argv).parse_args(argv)
    assert (args.quiet, args.verbose) == (quiet, verbose)


def test_a_command_with_q_after_it_is_no_usage_error(tmp_path: Path, cli: Any) -> None:
    result = cli("lock", "--check", "-q", "--project", str(tmp_path))
    assert "usage:" not in result.err and "unrecognized arguments" not in result.err
    assert result.err.startswith("podlock: error:")  # the command ran: this dir has no inputs


def test_an_unexpected_exception_is_one_line_and_its_own_exit_code(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from podlock.cli import lock as lock_command
    from podlock.cli.main import INTERNAL_ERROR

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("http://alice:s3cret@example.com/simple\nsecond line")

    monkeypatch.setattr(lock_command, "run", broken)
    result = cli("lock", "--check", "--project", str(tmp_path))
    assert result.code == INTERNAL_ERROR and "Traceback" not in result.err
    assert result.err.startswith("podlock: internal error: RuntimeError: ")
    assert result.err.rstrip().endswith("run with -v for the traceback")
    assert "s3cret" not in result.err and "second line" not in result.err
    verbose = cli("lock", "--check", "--project", str(tmp_path), "-v")
    assert verbose.code == INTERNAL_ERROR and "Traceback" in verbose.err
