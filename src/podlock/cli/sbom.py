"""``podlock sbom --variant V``: the SBOM (SPDX 2.3 JSON) that ``push`` attaches to the
variant's image: its Python packages from the lock, byte for byte."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from podlock.cli.options import add_project, add_variant
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sbom", help="print the SBOM (SPDX 2.3 JSON) of the variant's image, from its lock"
    )
    add_project(p)
    add_variant(p, required=True)
    p.add_argument(
        "--platform", help="platform(s), comma-separated (default: the build's default one)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    from podlock.oci.build import target_platforms
    from podlock.oci.sbom import spdx
    from podlock.plan.load import load_plan
    from podlock.registry.model import source_epoch

    plan = load_plan(args.project, args.variant, reporter=reporter).plan
    wanted = [p.strip() for p in args.platform.split(",")] if args.platform else None
    sys.stdout.buffer.write(spdx(plan, target_platforms(plan, wanted), epoch=source_epoch()))
    return 0
