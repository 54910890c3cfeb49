"""``podlock export``: a ``--require-hashes`` requirements file for one platform."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from podlock.atomic import write_atomic
from podlock.cli.options import add_project, add_variant
from podlock.inputs.discover import discover
from podlock.inputs.indexes import shown_index_urls
from podlock.lock.export import export_requirements
from podlock.lock.pylock import read_lock
from podlock.lock.status import check
from podlock.platforms import Platform
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "export", help="print one platform of a lock as a hashed requirements file"
    )
    add_project(p)
    add_variant(p, required=True)
    p.add_argument("--platform", default="linux/amd64", help="e.g. linux/amd64 (default)")
    p.add_argument("--format", choices=["requirements"], default="requirements")
    p.add_argument(
        "-o", "--output", type=Path, help="write the file here (default: standard output)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    inputs = discover(args.project)
    variant = inputs.config.variant(args.variant)
    status = check(inputs, [variant])[0]
    if status.state == "stale":
        reporter.warn(f"{status.path.name} is stale ({status.reason}); run `podlock lock`")
    # A missing or corrupt lock has no `loaded`: read_lock raises the LockError that says so.
    loaded = status.loaded or read_lock(status.path)
    exported = export_requirements(
        loaded,
        Platform.parse(args.platform),
        index_urls=shown_index_urls(inputs, variant),
        file=str(args.output) if args.output else "<this file>",
    )
    if args.output is None:
        sys.stdout.write(exported.text)
        return 0
    write_atomic(args.output, exported.text)
    needs = f" (with {', '.join(exported.variables)} set)" if exported.variables else ""
    reporter.info(f"wrote {args.output}; install it{needs} with: {exported.commands[0]}")
    return 0
