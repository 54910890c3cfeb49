"""``podlock lock``: write or check ``pylock.<variant>.toml`` for each variant."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from podlock.project import discover
from podlock.reporter import Reporter
from podlock.resolver import backend
from podlock.resolver.model import Mode
from podlock.resolver.pipeline import check, lock


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "lock", help="resolve the project into one PEP 751 lock per variant"
    )
    p.add_argument("--project", type=Path, default=Path("."), help="project directory")
    p.add_argument("--variant", action="append", default=[], help="only this variant (repeatable)")
    p.add_argument("--check", action="store_true", help="exit 1 if a lock is missing or stale")
    p.add_argument("--upgrade", action="store_true", help="re-resolve every package")
    p.add_argument(
        "--upgrade-package", action="append", default=[], metavar="NAME",
        help="re-resolve only this package (repeatable); others keep their pins",
    )  # fmt: skip
    p.add_argument("--offline", action="store_true", help="use the cache only")
    p.add_argument("--resolver", choices=["uv", "python"], help="override the config's resolver")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    inputs = discover(args.project)
    config = inputs.config
    variants = [config.variant(n) for n in args.variant] or list(config.variants)
    if args.check:
        bad = 0
        for status in check(inputs, variants):
            if status.ok:
                print(f"{status.path.name}: up to date")
            else:
                bad += 1
                print(f"{status.path.name}: {status.state}: {status.reason}")
        if bad:
            reporter.warn("run `podlock lock` to update the locks")
        return 1 if bad else 0
    results = lock(
        inputs,
        variants,
        backend=backend(args.resolver or config.resolver),
        mode=Mode(
            offline=args.offline,
            upgrade=args.upgrade,
            upgrade_packages=tuple(args.upgrade_package),
        ),
        reporter=reporter,
    )
    for result in results:
        if result.lock is None or not result.written:
            print(f"{result.path.name}: up to date")
        else:
            print(f"{result.path.name}: wrote {len(result.lock.packages)} packages")
    return 0
