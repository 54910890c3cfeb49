"""``podlock outdated``: the locked packages with newer releases, per variant."""

from __future__ import annotations

import argparse
from typing import Any

from podlock.cli.options import add_project, add_resolver, add_variant
from podlock.cli.output import add_format, emit, wants_json
from podlock.inputs.discover import discover
from podlock.reporter import Reporter
from podlock.resolver import backend
from podlock.resolver.outdated import outdated


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "outdated", help="list locked packages whose index has a newer release"
    )
    add_project(p)
    add_variant(p, many=True)
    add_resolver(p)
    add_format(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    inputs = discover(args.project)
    config = inputs.config
    variants = config.selected(args.variant)
    found = outdated(
        inputs, variants, backend=backend(args.resolver or config.resolver), reporter=reporter
    )
    if wants_json(args):
        emit({"variants": [v.to_dict() for v in found]})
        return 0
    for v in found:
        if not v.packages:
            print(f"{v.path}: all packages are at their newest release")
            continue
        rows = [("PACKAGE", "LOCKED", "LATEST ALLOWED", "LATEST", "")]
        for p in v.packages:
            rows.append(
                (p.name, p.locked, p.latest_allowed or "-", p.latest or "-", "direct" * p.direct)
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        print(f"{v.path} ({v.variant}):")
        for r in rows:
            print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0
