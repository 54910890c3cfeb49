"""``podlock package list``: exactly which project files go into the image, with sizes."""

from __future__ import annotations

import argparse
from typing import Any

from podlock.cli.options import add_project
from podlock.cli.output import add_format, emit, wants_json
from podlock.errors import PodlockError
from podlock.inputs.discover import discover
from podlock.plan.codepackage import collect
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("package", help="the project's code package")
    actions = p.add_subparsers(dest="package_command", required=True, metavar="ACTION")
    ls: argparse.ArgumentParser = actions.add_parser(
        "list", help="list the files that go into the image, and those kept out"
    )
    add_project(ls)
    add_format(ls)
    ls.set_defaults(run=run_list)


def run_list(args: argparse.Namespace, reporter: Reporter) -> int:
    name: str | None = None
    allowed: tuple[str, ...] = ()
    try:
        inputs = discover(args.project)
        name, allowed = inputs.name, inputs.config.include_secrets
    except PodlockError:  # a project without dependencies still has files to list
        pass
    code = collect(args.project, name=name, include_secrets=allowed)
    if wants_json(args):
        emit(
            {
                "source": code.source,
                "revision": code.revision,
                "digest": code.digest,
                "size": code.size,
                "files": [
                    {"path": f.path, "size": f.size, "sha256": f.sha256, "executable": f.executable}
                    for f in code.files
                ],
                "excluded": [{"path": e.path, "reason": e.reason} for e in code.excluded],
            }
        )
        return 0
    width = max((len(str(f.size)) for f in code.files), default=1)
    for f in code.files:
        print(f"{f.size:>{width}}  {f.path}")
    print(f"total: {len(code.files)} files, {code.size} bytes (from {code.source})")
    print(f"files digest: {code.digest}")
    for e in code.excluded:
        print(f"excluded  {e.path}  ({e.reason})")
    for e in code.included_secrets:
        print(f"included  {e.path}  ({e.reason}; listed in include-secrets)")
    return 0
