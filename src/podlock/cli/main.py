"""``podlock``: parse arguments, run one command, render any PodlockError in one place."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from podlock import __version__
from podlock.cli import export as export_cmd
from podlock.cli import lock as lock_cmd
from podlock.errors import PodlockError


class StderrReporter:
    """The CLI's reporter: warnings always, progress unless ``--quiet``."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            print(f"podlock: {message}", file=sys.stderr)

    def warn(self, message: str) -> None:
        print(f"podlock: warning: {message}", file=sys.stderr)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="podlock",
        description="Lock, build and launch ML environments reproducibly on TPU/GPU pods.",
    )
    p.add_argument("--version", action="version", version=f"podlock {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="show tracebacks on errors")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    lock_cmd.add_parser(sub)
    export_cmd.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    reporter = StderrReporter(quiet=args.quiet)
    try:
        code: int = args.run(args, reporter)
        return code
    except PodlockError as err:
        if args.verbose:
            traceback.print_exc()
        print(f"podlock: error: {err.message}", file=sys.stderr)
        if err.hint:
            print(f"  hint: {err.hint}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("podlock: interrupted; nothing was changed", file=sys.stderr)
        return 130
