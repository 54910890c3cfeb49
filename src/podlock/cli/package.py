"""``podlock package list``: exactly which project files go into the image, with sizes."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from podlock.cli.options import add_project
from podlock.cli.output import add_format, emit, wants_json
from podlock.disk import size_text
from podlock.errors import PodlockError
from podlock.inputs.codeconfig import CodeConfig
from podlock.inputs.discover import discover, read_config
from podlock.plan.codepackage import CodePackage, collect
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
    try:
        inputs = discover(args.project)
        name, config = inputs.name, inputs.config.code
    except PodlockError:  # a project without dependencies still has files to list
        config = read_config(args.project).code  # but its config must be valid
    code = collect(args.project, config, name=name, reporter=reporter)
    large = [f.path for f in code.files if config.large_allowed(f.path)]
    if wants_json(args):
        emit(
            {
                "source": code.source,
                "revision": code.revision,
                "digest": code.digest,
                "size": code.size,
                "limits": {"max-size": config.max_size, "max-file-size": config.max_file_size},
                "files": [
                    {"path": f.path, "size": f.size, "sha256": f.sha256, "executable": f.executable}
                    for f in code.files
                ],
                "excluded": [{"path": e.path, "reason": e.reason} for e in code.excluded],
                "include-large": large,
            }
        )
        return 0
    _print(code, config, large)
    return 0


def _print(code: CodePackage, config: CodeConfig, large: list[str]) -> None:
    width = max((len(str(f.size)) for f in code.files), default=1)
    for f in code.files:
        print(f"{f.size:>{width}}  {f.path}")
    print(
        f"total: {len(code.files)} files, {code.size} bytes (from {code.source}); limits: "
        f"{size_text(config.max_size)} in all, {size_text(config.max_file_size)} per file"
        + (f", not counting {len(large)} in include-large" if large else "")
    )
    print(f"files digest: {code.digest}")
    for e in code.excluded:
        print(f"excluded  {e.path}  ({e.reason})")
    for e in code.included_secrets:
        print(f"included  {e.path}  ({e.reason}; listed in include-secrets)")
    kinds = Counter(e.reason.split(":")[0] for e in code.excluded)
    if kinds:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        print(f"kept out: {len(code.excluded)} paths ({counts})")
