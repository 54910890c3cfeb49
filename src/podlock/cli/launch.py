"""``podlock launch``: build and push (or take) an image, submit it to Kubernetes, follow it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from podlock.cli.jobs import add_cluster_args, connect
from podlock.cli.render import add_job_args, spec_of
from podlock.errors import InputError, PodlockError
from podlock.launcher.images import DockerPublisher, ImageRef, OciPublisher, Publisher
from podlock.launcher.launch import choose_variant, follow, job_request, resolve_image, submit
from podlock.project import Inputs, discover
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "launch", help="run a command on a TPU/GPU (or CPU) pod; stream logs, return its exit code"
    )
    add_job_args(p)
    add_cluster_args(p)
    p.add_argument("--project", type=Path, default=Path("."), help="project directory")
    p.add_argument("--variant", help="default: the variant for the accelerator (tpu/cuda/cpu)")
    p.add_argument(
        "--image",
        help="REF@sha256:... to run as it is; else where to push (bundled/prebuilt), "
        "or your image (custom)",
    )
    p.add_argument("--network", help="network for build steps, e.g. host")
    p.add_argument(
        "--builder", choices=("docker", "oci"),
        help="how bundled mode builds and pushes (default: docker when an engine answers, "
        "else the daemonless oci builder)",
    )  # fmt: skip
    p.add_argument("--base", help="oci builder: base image (docker-archive:, oci-layout: or REF)")
    p.add_argument("--detach", action="store_true", help="submit, print the job name, return")
    p.add_argument("--all-logs", action="store_true", help="every pod's logs, prefixed")
    p.add_argument(
        "--pending-timeout", type=float, default=900.0, metavar="S",
        help="cancel the job if its pods cannot start for this long (default 900)",
    )  # fmt: skip
    p.add_argument(
        "--explain-after", type=float, default=60.0, metavar="S",
        help="explain why pods are Pending after this long (default 60)",
    )  # fmt: skip
    p.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    p.set_defaults(run=run)


def _ask(prompt: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        return input(prompt).strip().lower() in ("y", "yes")
    except (EOFError, KeyboardInterrupt):
        return False


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    spec = spec_of(args, reporter)
    inputs: Inputs | None
    try:
        inputs = discover(args.project)
    except InputError:
        if spec.mode != "custom":
            raise
        inputs = None  # custom mode runs the user's image: a project is optional
    variant = choose_variant(inputs.config, spec.accelerator, args.variant) if inputs else None
    cluster = connect(args)
    image = resolve_image(
        spec,
        root=inputs.root if inputs else None,
        variant=variant,
        publisher=_BuilderPublisher(args),
        reporter=reporter,
    )
    base = inputs.name if inputs else ImageRef.parse(image).repository.rsplit("/", 1)[-1]
    labels = {"podlock.dev/project": base}
    if variant is not None:
        labels["podlock.dev/variant"] = variant.name
    request = job_request(spec, image, base=base, namespace=cluster.namespace, labels=labels)
    handle = submit(cluster, request)
    where = f"{cluster.connection.context}/{cluster.namespace}"
    reporter.info(f"submitted {handle.kind} {handle.name} to {where} ({image})")
    if args.detach:
        print(handle.name)
        return 0

    def out(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    code = follow(
        handle,
        out,
        confirm=_ask,
        reporter=reporter,
        all_logs=args.all_logs,
        poll=args.poll,
        explain_after=args.explain_after,
        pending_timeout=args.pending_timeout,
    )
    reporter.info(f"{handle.name} finished with exit code {code}")
    return code


class _BuilderPublisher:
    """``--builder``'s publisher (default: docker when an engine answers, else oci), chosen
    when an image is published: a launch that publishes none never probes the engine."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def publish(
        self, root: Path, variant: str, *, mode: str, repository: str, reporter: Reporter
    ) -> str:
        from podlock.builder.engine import Engine

        builder = self.args.builder
        if builder is None:
            try:
                Engine.connect(timeout=10)
                builder = "docker"
            except PodlockError:
                reporter.info("no Docker engine answers: building with the daemonless oci builder")
                builder = "oci"
        publisher: Publisher = (
            OciPublisher(base=self.args.base)
            if builder == "oci"
            else DockerPublisher(network=self.args.network)
        )
        return publisher.publish(root, variant, mode=mode, repository=repository, reporter=reporter)
