"""``podlock accelerators``: the accelerator names ``launch`` and ``render`` accept."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from podlock.cli.output import add_format, emit, wants_json
from podlock.launcher.accelerators import catalog, table
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "accelerators", help="list the TPU/GPU names podlock launches on, with GKE labels"
    )
    add_format(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    if not wants_json(args):
        sys.stdout.write(table())
        return 0
    emit(
        {
            "accelerators": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "chips": s.chips,
                    "hosts": s.hosts,
                    "per_pod": s.per_host if s.resource else 0,
                    "resource": s.resource,
                    "topology": s.topology or None,
                    "machine_type": s.machine_type or None,
                    "arch": s.arch,
                    "platform": s.platform,
                    "node_selector": dict(s.node_selector),
                }
                for s in catalog()
            ]
        }
    )
    return 0
