"""``podlock dockerfile``: write the Dockerfile and build context for one variant."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from podlock.builder.build import write
from podlock.builder.dockerfile import render
from podlock.cli.options import add_project, add_variant
from podlock.plan.layerplan import HEAVY_BYTES
from podlock.plan.load import default_platform, load_plan
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "dockerfile", help="write a Dockerfile and its build context (wheels verified) to a dir"
    )
    add_project(p)
    add_variant(p, required=True)
    p.add_argument("--platform", help="target platform (default linux/amd64)")
    p.add_argument("--output", type=Path, required=True, help="context directory (replaced)")
    p.add_argument("--base", help="base image (overrides the lock's)")
    p.add_argument("--ca-cert", type=Path, help="PEM CA bundle to install before any network step")
    p.add_argument(
        "--heavy-mb", type=float, default=HEAVY_BYTES / 2**20,
        help="wheels larger than this get a layer of their own (default %(default)g)",
    )  # fmt: skip
    p.set_defaults(run=run)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    heavy = int(args.heavy_mb * 2**20)
    project = load_plan(
        args.project, args.variant, base=args.base, heavy_bytes=heavy, reporter=reporter
    )
    platform = args.platform or default_platform(project.plan)
    context = render(
        project.plan, platform, ca_cert=args.ca_cert.read_bytes() if args.ca_cert else None
    )
    write(project, context, args.output, reporter=reporter)
    reporter.info(f"build it with: docker build --network host {args.output}")
    print(args.output / "Dockerfile")
    return 0
