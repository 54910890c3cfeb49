"""``podlock accelerators``: the accelerator names ``launch`` and ``render`` accept."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from podlock.launcher.accelerators import table
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "accelerators", help="list the TPU/GPU names podlock launches on, with GKE labels"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    sys.stdout.write(table())
    return 0
