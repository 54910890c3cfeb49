"""``podlock build`` and ``podlock build-base``: images with the Docker engine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from podlock.builder.build import MODES, build, build_base
from podlock.builder.plan import HEAVY_BYTES
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    """Adds ``build``, or ``build-base`` when ``build`` is already there: main's registry
    names this module for both and imports it only for the command being run."""
    if "build" in sub.choices:
        b: argparse.ArgumentParser = sub.add_parser(
            "build-base", help="build the runtime base image that --mode prebuilt starts from"
        )
        _common(b)
        b.set_defaults(run=run_base)
        return
    p: argparse.ArgumentParser = sub.add_parser(
        "build", help="build the variant's image with the Docker engine; prints its reference"
    )
    _common(p)
    p.add_argument("--mode", default="bundled", help=f"one of {', '.join(MODES)} (default bundled)")
    p.add_argument("--tag", help="image reference (default <project>:<variant>-<lock hash>)")
    p.add_argument("--platform", help="target platform (default: the engine's)")
    p.add_argument(
        "--heavy-mb", type=float, default=HEAVY_BYTES / 2**20,
        help="wheels larger than this get a layer of their own (default %(default)g)",
    )  # fmt: skip
    p.set_defaults(run=run)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", type=Path, default=Path("."), help="project directory")
    p.add_argument("--variant", required=True)
    p.add_argument("--base", help="base image (overrides the lock's); the image for --mode custom")
    p.add_argument("--ca-cert", type=Path, help="PEM CA bundle to install before any network step")
    p.add_argument("--network", help="network for build steps, e.g. host")


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    result = build(
        args.project,
        args.variant,
        mode=args.mode,
        base=args.base,
        tag=args.tag,
        ca_cert=args.ca_cert,
        network=args.network,
        platform=args.platform,
        heavy_bytes=int(args.heavy_mb * 2**20),
        reporter=reporter,
    )
    print(result.ref)
    return 0


def run_base(args: argparse.Namespace, reporter: Reporter) -> int:
    result = build_base(
        args.project,
        args.variant,
        base=args.base,
        ca_cert=args.ca_cert,
        network=args.network,
        reporter=reporter,
    )
    print(result.ref)
    return 0
