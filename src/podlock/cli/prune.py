"""``podlock prune``: free what podlock's caches and the engine's layer images hold that no
run has used in ``--older-than`` days."""

from __future__ import annotations

import argparse
from typing import Any

from podlock.cli.caches import prune
from podlock.errors import PodlockError
from podlock.paths import cache_dir
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "prune",
        help="remove cached wheels, installed trees, layers, run venvs and podlock-layers/* "
        "images not used lately",
    )
    p.add_argument("--older-than", type=float, default=30.0, metavar="DAYS",
                   help="remove what was last used over DAYS ago (default 30; 0: all)")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    p.add_argument("--no-engine", action="store_true",
                   help="leave the Docker engine's podlock-layers/* images alone")  # fmt: skip
    p.set_defaults(run=run)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    if args.older_than < 0:
        raise PodlockError(
            f"--older-than {args.older_than:g}: a number of days cannot be negative",
            hint="pass 0 to remove everything, or a number of days such as 30",
        )
    engine = None
    if not args.no_engine:
        from podlock.engine import Engine, EngineUnavailable

        try:
            engine = Engine.connect(timeout=30)
        except EngineUnavailable:
            reporter.info("no Docker engine answers: its podlock-layers/* images are left")
    removed = prune(args.older_than, dry_run=args.dry_run, engine=engine)
    verb = "would remove" if args.dry_run else "removed"
    for r in removed:
        size = f" ({r.size / 1e6:.1f} MB)" if r.size is not None else ""
        print(f"{verb} {r.what} {r.name}{size}")
    freed = sum(r.size or 0 for r in removed)
    images = sum(1 for r in removed if r.size is None)
    print(
        f"{verb} {len(removed) - images} cache entries ({freed / 1e6:.1f} MB) under "
        f"{cache_dir()} and {images} layer image tags"
    )
    return 0
