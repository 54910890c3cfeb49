"""``podlock render``: print the Kubernetes manifests of a launch, without a cluster."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from podlock.cli.options import add_project
from podlock.cli.run import command_of
from podlock.inputs.config import Config
from podlock.inputs.discover import discover
from podlock.launcher import capacity
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
        help="name the job and take the [launch] defaults (--queue, --capacity, "
        "--max-restarts, --priority) from this project, as launch does (default: name it "
        "after the image)",
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
        "--nodes", type=int, default=1, metavar="N",
        help="GPU accelerators: N nodes, one pod each, as one JobSet with the rendezvous "
        "environment (MASTER_ADDR, WORLD_SIZE, NODE_RANK, JAX_*) set",
    )  # fmt: skip
    p.add_argument(
        "--queue", metavar="NAME",
        help="Kueue LocalQueue to submit to (launch's default: [launch] queue in the config)",
    )  # fmt: skip
    p.add_argument(
        "--capacity", metavar="KIND[,KIND...]",
        help="on-demand, spot, flex-start or reservation:NAME; a comma-separated list is a "
        "fallback order launch's preflight walks (render writes the first)",
    )  # fmt: skip
    p.add_argument(
        "--max-restarts", type=int, metavar="N",
        help="restart the job up to N times after its own failures; preemptions and lost "
        "nodes restart it without counting",
    )  # fmt: skip
    p.add_argument(
        "--priority", metavar="NAME",
        help="PriorityClass of the pods; with --queue, Kueue's WorkloadPriorityClass",
    )  # fmt: skip


def spec_of(
    args: argparse.Namespace, reporter: Reporter, config: Config | None = None
) -> LaunchSpec:
    """The launch as asked: flags first, then the project's ``[launch]`` defaults."""
    defaults = config.launch if config is not None else None
    order = args.capacity if args.capacity is not None else getattr(defaults, "capacity", None)
    where = (
        "--capacity" if args.capacity is not None else f"[launch] capacity in {config_file(config)}"
    )
    spec = LaunchSpec(
        accelerator=parse(args.accelerator),
        command=tuple(command_of(args)),
        mode=args.mode,
        image=args.image,
        name=args.name,
        env=parse_env(args.env),
        env_from_secrets=tuple(args.env_from_secret),
        slices=args.slices,
        nodes=args.nodes,
        queue=_given(args.queue, defaults and defaults.queue),
        capacity=capacity.parse(order, where=where) if order is not None else (),
        max_restarts=_given(args.max_restarts, defaults and defaults.max_restarts),
        priority=_given(args.priority, defaults and defaults.priority),
    )
    for key in secret_looking(spec.env):
        reporter.warn(
            f"--env {key}: its value is written into the manifest, readable by anyone who can "
            "read the job; put credentials in a Secret and pass --env-from-secret NAME"
        )
    return spec


def _given(flag: Any, default: Any) -> Any:
    return flag if flag is not None else default


def config_file(config: Config | None) -> str:
    return str(config.file) if config is not None and config.file else "the podlock config"


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    inputs = discover(args.project) if args.project is not None else None
    spec = spec_of(args, reporter, inputs.config if inputs else None)
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
    if len(spec.capacity) > 1:
        reporter.info(
            f"capacity: rendered for {spec.capacity[0]}, the first of "
            f"{capacity.describe(spec.capacity)}; launch's preflight picks the first kind "
            "the cluster has node pools for"
        )
    sys.stdout.write(to_yaml(render(request)))
    return 0
