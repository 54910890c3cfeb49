"""``podlock``: parse arguments, run one command, render any PodlockError in one place."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from podlock import __version__
from podlock.cli.options import add_output_flags
from podlock.cli.progress import reporter_for
from podlock.disk import full_error, is_full
from podlock.errors import PodlockError
from podlock.paths import cache_dir
from podlock.urls import redact

COMMANDS: dict[str, tuple[str, str]] = {
    "lock": ("podlock.cli.lock", "resolve the project into one PEP 751 lock per variant"),
    "outdated": ("podlock.cli.outdated", "list locked packages whose index has a newer release"),
    "export": ("podlock.cli.export", "print one platform of a lock as a hashed requirements file"),
    "build": ("podlock.cli.build", "build the project's image from its lock"),
    "dockerfile": ("podlock.cli.dockerfile", "write a Dockerfile and build context from a lock"),
    "package": ("podlock.cli.package", "show what the code package contains"),
    "build-base": ("podlock.cli.build", "build the runtime base image for --mode prebuilt"),
    "push": ("podlock.cli.push", "push the image (or an OCI layout) to a registry"),
    "sbom": ("podlock.cli.sbom", "print the SBOM (SPDX 2.3 JSON) of the variant's image"),
    "run": ("podlock.cli.run", "run a command in the variant's locked environment"),
    "launch": ("podlock.cli.launch", "run a command on a TPU/GPU pod; stream logs, exit code"),
    "render": ("podlock.cli.render", "print the Kubernetes manifests `launch` would submit"),
    "jobs": ("podlock.cli.jobs", "list, inspect, follow or cancel launched jobs"),
    "accelerators": ("podlock.cli.accelerators", "list the accelerator names and GKE labels"),
    "prune": (
        "podlock.cli.prune",
        "remove cached wheels, trees, venvs and layer images not used lately",
    ),
}


def parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="podlock",
        description="Lock, build and launch ML environments reproducibly on TPU/GPU pods.",
    )
    p.add_argument("--version", action="version", version=f"podlock {__version__}")
    add_output_flags(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Only the chosen command's module is imported (docker's SDK alone costs ~150 ms),
    # so `podlock lock --check` stays fast; the others are listed by name for --help.
    chosen = next((a for a in (argv or []) if not a.startswith("-")), None)
    for name, (module, summary) in COMMANDS.items():
        if name == chosen:
            importlib.import_module(module).add_parser(sub)
            add_output_flags(sub.choices[name])
        else:
            sub.add_parser(name, help=summary)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser(argv).parse_args(argv)
    reporter = reporter_for(sys.stderr, quiet=args.quiet)
    try:
        code: int = args.run(args, reporter)
        return code
    except PodlockError as err:
        reporter.close()
        return _report(err, verbose=args.verbose)
    except OSError as exc:
        if not is_full(exc):
            raise
        # A write no stage turned into DiskFull itself: still a message, not a traceback.
        reporter.close()
        where = Path(os.fsdecode(exc.filename)).parent if exc.filename else cache_dir()
        return _report(full_error(exc, where), verbose=args.verbose)
    except KeyboardInterrupt:
        reporter.close()
        print("podlock: interrupted; nothing was changed", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, or a failure no stage names: one line, not a traceback
        reporter.close()
        return _internal(exc, verbose=args.verbose)
    finally:
        reporter.close()


INTERNAL_ERROR = 70  # EX_SOFTWARE: not the user's input, not the network: podlock's own


def _internal(exc: Exception, *, verbose: bool) -> int:
    """An unexpected exception as one line (the traceback with ``-v``); INTERNAL_ERROR."""
    if verbose:
        traceback.print_exc()
    what = redact(f"{type(exc).__name__}: {exc}".strip().splitlines()[0])[:300]
    hint = "" if verbose else "; run with -v for the traceback"
    print(f"podlock: internal error: {what}{hint}", file=sys.stderr)
    return INTERNAL_ERROR


def _report(err: PodlockError, *, verbose: bool) -> int:
    """Print ``err`` (what, where, what to do) on stderr; its exit code."""
    if verbose:
        traceback.print_exc()
    print(f"podlock: error: {err.message}", file=sys.stderr)
    if err.hint:
        print(f"  hint: {err.hint}", file=sys.stderr)
    return err.exit_code
