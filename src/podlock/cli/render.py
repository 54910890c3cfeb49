"""``podlock render``: print the Kubernetes manifests of a launch, without a cluster."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from podlock.cli.options import add_project
from podlock.cli.run import command_of
from podlock.inputs.discover import discover
from podlock.launcher.accelerators import parse
from podlock.launcher.launch import MODES, LaunchSpec, job_request, parse_env
from podlock.launcher.manifests import render, secret_looking, to_yaml
from podlock.registry.reference import Reference
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "render", help="print the Job/JobSet YAML that `launch` would submit"
    )
    add_job_args(p)
    p.add_argument("--image", required=True, help="image reference, ideally REF@sha256:...")
    p.add_argument("--namespace", help="written into the manifests when given")
    add_project(
        p,
        default=None,
        help="name the job and take the default --queue from this project, as launch does "
        "(default: name it after the image)",
    )
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    p.set_defaults(run=run)


def add_job_args(p: argparse.ArgumentParser) -> None:
    """Options ``render`` and ``launch`` share."""
    p.add_argument("--accelerator", required=True, help="e.g. tpu-v6e-8, h100x8, cpu")
    p.add_argument("--mode", choices=MODES, default="bundled", help="default: bundled")
    p.add_argument("--name", help="job name (default: derived from the project/image)")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="repeatable")
    p.add_argument(
        "--env-from-secret", action="append", default=[], metavar="SECRET",
        help="set the variables of this Kubernetes Secret (repeatable); for credentials",
    )  # fmt: skip
    p.add_argument(
        "--slices", type=int, default=1, metavar="N",
        help="multi-slice: N slices of a multi-host TPU slice, joined over the data-center "
        "network (MEGASCALE_* set for JAX)",
    )  # fmt: skip
    p.add_argument(
        "--queue", metavar="NAME",
        help="Kueue LocalQueue to submit to (launch's default: [launch] queue in the config)",
    )  # fmt: skip


def spec_of(
    args: argparse.Namespace, reporter: Reporter, *, default_queue: str | None = None
) -> LaunchSpec:
    spec = LaunchSpec(
        accelerator=parse(args.accelerator),
        command=tuple(command_of(args)),
        mode=args.mode,
        image=args.image,
        name=args.name,
        env=parse_env(args.env),
        env_from_secrets=tuple(args.env_from_secret),
        slices=args.slices,
        queue=args.queue if args.queue is not None else default_queue,
    )
    for key in secret_looking(spec.env):
        reporter.warn(
            f"--env {key}: its value is written into the manifest, readable by anyone who can "
            "read the job; put credentials in a Secret and pass --env-from-secret NAME"
        )
    return spec


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    inputs = discover(args.project) if args.project is not None else None
    spec = spec_of(args, reporter, default_queue=inputs.config.queue if inputs else None)
    ref = Reference.parse(args.image, rules="launch")
    if ref.digest is None:
        reporter.warn(
            f"{ref.as_written()} is not pinned by digest; launches pin it (REF@sha256:...)"
        )
    base = inputs.name if inputs else ref.written_repository.rsplit("/", 1)[-1]
    request = job_request(
        spec,
        ref.as_written(),
        base=base,
        namespace=args.namespace,
        labels={"podlock.dev/project": base} if inputs else None,
        unique=False,
    )
    sys.stdout.write(to_yaml(render(request)))
    return 0
