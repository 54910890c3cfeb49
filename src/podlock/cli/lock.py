"""``podlock lock``: write or check ``pylock.<variant>.toml`` for each variant."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Literal

from podlock.cli.options import add_project, add_resolver, add_variant
from podlock.cli.output import add_format, emit, wants_json
from podlock.errors import InputError
from podlock.inputs.discover import discover
from podlock.lock.status import LockState, LockStatus, check
from podlock.reporter import Reporter
from podlock.resolver import backend
from podlock.resolver.changes import LockChanges, diff, to_markdown, versions
from podlock.resolver.model import ResolveOptions
from podlock.resolver.pipeline import LockResult, lock

# What `--format json` says of each lock.
Status = Literal["written", "up-to-date", "stale", "missing", "corrupt"]
_CHECKED: dict[LockState, Status] = {
    "ok": "up-to-date",
    "stale": "stale",
    "missing": "missing",
    "corrupt": "corrupt",
}


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "lock", help="resolve the project into one PEP 751 lock per variant"
    )
    add_project(p)
    add_variant(p, many=True)
    p.add_argument("--check", action="store_true", help="exit 1 if a lock is missing or stale")
    p.add_argument("--upgrade", action="store_true", help="re-resolve every package")
    p.add_argument(
        "--upgrade-package", action="append", default=[], metavar="NAME",
        help="re-resolve only this package (repeatable); others keep their pins",
    )  # fmt: skip
    p.add_argument(
        "--report", type=Path, metavar="FILE",
        help="write what changed per variant (Markdown; JSON with --format json), e.g. a PR body",
    )  # fmt: skip
    p.add_argument("--offline", action="store_true", help="use the cache only")
    add_resolver(p)
    add_format(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    inputs = discover(args.project)
    config = inputs.config
    variants = config.selected(args.variant)
    if args.check:
        if args.report:
            raise InputError("--report goes with `lock` (and --upgrade), not with --check")
        return _check(args, check(inputs, variants), reporter)
    # The locks as they were: what the report compares with, and what JSON lists when kept.
    keep = args.report or wants_json(args)
    before = {s.variant: s for s in check(inputs, variants)} if keep else {}
    results = lock(
        inputs,
        variants,
        backend=backend(args.resolver or config.resolver),
        mode=ResolveOptions(
            offline=args.offline,
            upgrade=args.upgrade,
            upgrade_packages=tuple(args.upgrade_package),
        ),
        reporter=reporter,
    )
    rows = []
    for result in results:
        if result.lock is None or not result.written:
            print_text = f"{result.path.name}: up to date"
            status: Status = "up-to-date"
        else:
            print_text = f"{result.path.name}: wrote {len(result.lock.packages)} packages"
            status = "written"
        if not wants_json(args):
            print(print_text)
        if keep:
            rows.append(_row(result.variant, result.path, status, "", _after(result, before)))
    changes: list[LockChanges] = []
    if args.report:
        for result in results:
            old = versions(_locked(before[result.variant]))
            new = versions(_after(result, before))
            changes.append(diff(result.variant, result.path.name, old, new))
        _write_report(args, changes)
        reporter.info(f"wrote the upgrade report to {args.report}")
    if wants_json(args):
        document: dict[str, Any] = {"locks": rows}
        if args.report:
            document["changes"] = [c.to_dict() for c in changes]
        emit(document)
    return 0


def _check(args: argparse.Namespace, statuses: list[LockStatus], reporter: Reporter) -> int:
    bad = [s for s in statuses if not s.ok]
    if wants_json(args):
        emit(
            {
                "locks": [
                    _row(s.variant, s.path, _CHECKED[s.state], s.reason, _locked(s))
                    for s in statuses
                ]
            }
        )
    else:
        for status in statuses:
            if status.ok:
                print(f"{status.path.name}: up to date")
            else:
                print(f"{status.path.name}: {status.state}: {status.reason}")
    if bad:
        reporter.warn("run `podlock lock` to update the locks")
    return 1 if bad else 0


def _row(
    variant: str,
    path: Path,
    status: Status,
    reason: str,
    packages: list[tuple[str, str | None]],
) -> dict[str, Any]:
    return {
        "variant": variant,
        "path": str(path),
        "status": status,
        "reason": reason,
        "packages": [{"name": n, "version": v} for n, v in packages],
    }


def _locked(status: LockStatus) -> list[tuple[str, str | None]]:
    """(name, version) of each package in the lock as read; none when missing or corrupt."""
    if status.loaded is None:
        return []
    return [
        (str(p["name"]), None if p.get("version") is None else str(p["version"]))
        for p in status.loaded.data.get("packages", [])
    ]


def _after(result: LockResult, before: dict[str, LockStatus]) -> list[tuple[str, str | None]]:
    """(name, version) of each package once locked: the new lock's, or the kept one's."""
    if result.lock is not None:
        return [(p.name, p.version) for p in result.lock.packages]
    return _locked(before[result.variant])


def _write_report(args: argparse.Namespace, changes: list[LockChanges]) -> None:
    if wants_json(args):
        text = json.dumps({"changes": [c.to_dict() for c in changes]}, indent=2) + "\n"
    else:
        text = to_markdown(changes)
    args.report.write_text(text, encoding="utf-8")
