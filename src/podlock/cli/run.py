"""``podlock run``: a command in the variant's locked environment (local venv or Docker)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from podlock.cli.options import add_project, add_variant
from podlock.errors import PodlockError
from podlock.inputs.config import Config, VariantConfig
from podlock.inputs.discover import discover
from podlock.launcher.dotenv import read_dotenv
from podlock.launcher.local import command_env, exec_command, prepare, run_command
from podlock.platforms import Platform, host_platform
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run", help="run a command in the variant's locked environment (local venv or Docker)"
    )
    add_project(p)
    add_variant(p, help="default: the cpu variant, if it fits this machine")
    p.add_argument("--backend", choices=["local", "docker"], default="local")
    p.add_argument("--frozen", action="store_true", help="refuse to run from a stale lock")
    p.add_argument("--env-file", type=Path, help="variables to set (default: PROJECT/.env)")
    p.add_argument("--network", help="docker backend: the container's network, e.g. host")
    p.add_argument(
        "command", nargs=argparse.REMAINDER,
        help="-- CMD [ARGS...], run in the project directory (as in the image's /app)",
    )  # fmt: skip
    p.set_defaults(run=run)


def command_of(args: argparse.Namespace) -> list[str]:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise PodlockError("no command to run", hint="put it after `--`, e.g. `-- python main.py`")
    return command


def pick_variant(config: Config, name: str | None, target: Platform) -> VariantConfig:
    """``--variant``, else the cpu variant that has ``target``, else any that has it."""
    if name:
        return config.variant(name)
    fits = [v for v in config.variants if target in v.platforms]
    ranked = sorted(fits, key=lambda v: v.accelerator != "cpu")
    cpu = [v for v in config.variants if v.accelerator == "cpu"]
    return (ranked or cpu or list(config.variants))[0]


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    command = command_of(args)
    inputs = discover(args.project)
    env_file = args.env_file or inputs.root / ".env"
    if args.backend == "docker":
        from podlock.launcher.container import run_in_image

        variant = pick_variant(inputs.config, args.variant, Platform.parse("linux/amd64"))
        return run_in_image(
            inputs.root,
            variant.name,
            command,
            env=read_dotenv(env_file, {}),
            network=args.network,
            reporter=reporter,
        )
    target = host_platform()
    variant = pick_variant(inputs.config, args.variant, target)
    venv = prepare(inputs, variant, frozen=args.frozen, target=target, reporter=reporter)
    if not venv.reused:
        reporter.info(f"environment ready: {venv.path}")
    env = command_env(venv, read_dotenv(env_file, os.environ))
    # The project directory, as in the image (WORKDIR /app): same command, same behaviour.
    if os.name == "posix":
        exec_command(command, env, cwd=inputs.root)
    return run_command(command, env, cwd=inputs.root)
