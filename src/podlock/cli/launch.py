"""``podlock launch``: build and push (or take) an image, submit it to Kubernetes, follow it."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from podlock.cli.jobs import add_cluster_args, connect
from podlock.cli.options import add_project, add_variant
from podlock.cli.output import add_format, emit, wants_json
from podlock.cli.render import add_job_args, spec_of
from podlock.errors import InputError, PodlockError
from podlock.inputs.config import VariantConfig
from podlock.inputs.discover import Inputs, discover
from podlock.launcher import capacity, preflight
from podlock.launcher.cluster import Cluster
from podlock.launcher.images import DockerPublisher, OciPublisher, Publisher
from podlock.launcher.job import JobHandle
from podlock.launcher.launch import (
    REGISTRY_ENV,
    LaunchSpec,
    check_platform,
    choose_variant,
    follow,
    job_request,
    resolve_image,
    submit,
)
from podlock.launcher.manifests import JobRequest, render, to_yaml
from podlock.launcher.provenance import Provenance
from podlock.lock.pylock import read_lock
from podlock.paths import lock_path
from podlock.plan.codepackage import collect
from podlock.registry.reference import Reference
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "launch", help="run a command on a TPU/GPU (or CPU) pod; stream logs, return its exit code"
    )
    add_job_args(p)
    add_cluster_args(p)
    add_project(p)
    add_variant(p, help="default: the variant for the accelerator (tpu/cuda/cpu)")
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
    p.add_argument(
        "--dry-run", action="store_true",
        help="check the cluster can run the job and print its manifests: no build, no submit",
    )  # fmt: skip
    p.add_argument(
        "--no-preflight", action="store_true",
        help="skip the checks of nodes, namespace, RBAC and queue before building",
    )  # fmt: skip
    p.add_argument("--detach", action="store_true", help="submit, print the job name, return")
    add_format(p)
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
    if wants_json(args) and not args.detach:
        raise InputError(
            "--format json goes with --detach (a followed job streams its logs)",
            hint="add --detach, then `podlock jobs status NAME --format json`",
        )
    inputs = _inputs(args)
    spec = spec_of(args, reporter, inputs.config if inputs else None)
    variant = choose_variant(inputs.config, spec.accelerator, args.variant) if inputs else None
    if inputs is not None and variant is not None and spec.mode != "custom":
        check_platform(inputs.root, inputs.config, variant, spec.accelerator)
    cluster = connect(args)
    base = inputs.name if inputs else _image_name(str(spec.image))
    labels = {"podlock.dev/project": base}
    if variant is not None:
        labels["podlock.dev/variant"] = variant.name
    # The request is made (and checked) before the image exists: a bad name, env or slice
    # count, or a cluster that cannot run it, must not cost a build.
    planned = job_request(
        spec, _planned_image(spec, base), base=base, namespace=cluster.namespace, labels=labels
    )
    render(planned)
    if not args.no_preflight:
        chosen = preflight.check(cluster, planned, reporter, spec.capacity)
        planned = replace(planned, capacity=chosen)
        reporter.info(f"preflight: {cluster.connection.context}/{cluster.namespace} can run it")
    elif len(spec.capacity) > 1:
        reporter.info(
            f"capacity: no preflight to walk {capacity.describe(spec.capacity)}; "
            f"submitting for {spec.capacity[0]}"
        )
    if args.dry_run:
        if Reference.parse(planned.image, rules="launch").digest is None:
            reporter.info(f"dry run: {planned.image} stands for the image a launch would push")
        sys.stdout.write(to_yaml(render(planned)))
        return 0
    image = resolve_image(
        spec,
        root=inputs.root if inputs else None,
        variant=variant,
        publisher=_BuilderPublisher(args, platform=spec.accelerator.platform),
        reporter=reporter,
    )
    record = _provenance(inputs, variant, image, mode=spec.mode, reporter=reporter)
    request = replace(planned, image=image, annotations=record.annotations())
    handle = submit(cluster, request)
    where = f"{cluster.connection.context}/{cluster.namespace}"
    queued = f" (queue {request.queue})" if request.queue else ""
    on = f", capacity {request.capacity}" if request.capacity else ""
    reporter.info(f"submitted {handle.kind} {handle.name} to {where}{queued} ({image}{on})")
    if args.detach:
        _detached(args, handle, cluster, request, variant)
        return 0
    return _follow(args, handle, reporter)


def _inputs(args: argparse.Namespace) -> Inputs | None:
    """The project; None in custom mode without one (it runs the user's image)."""
    try:
        return discover(args.project)
    except InputError:
        if args.mode != "custom":
            raise
        if not args.image:
            raise PodlockError(
                "--mode custom runs your image: pass it with --image REF",
                hint="e.g. --image us-docker.pkg.dev/PROJECT/REPO/IMAGE@sha256:...",
            ) from None
        return None


def _image_name(image: str) -> str:
    """The last part of the image's repository (``app`` for ``reg/team/app:v1``)."""
    return Reference.parse(image, rules="launch").written_repository.rsplit("/", 1)[-1]


def _detached(
    args: argparse.Namespace,
    handle: JobHandle,
    cluster: Cluster,
    request: JobRequest,
    variant: VariantConfig | None,
) -> None:
    """What ``--detach`` prints: the job's name, or its record with ``--format json``."""
    if not wants_json(args):
        print(handle.name)
        return
    emit(
        {
            "name": handle.name,
            "kind": handle.kind,
            "namespace": cluster.namespace,
            "context": cluster.connection.context,
            "image": request.image,
            "queue": request.queue,
            "variant": variant.name if variant else None,
            "accelerator": request.accelerator.name,
            "capacity": str(request.capacity) if request.capacity else None,
        }
    )


def _follow(args: argparse.Namespace, handle: JobHandle, reporter: Reporter) -> int:
    """Stream the job's logs until it ends; its exit code."""

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


def _planned_image(spec: LaunchSpec, base: str) -> str:
    """The image a launch will run: the given one, else the repository it will push to."""
    if spec.image:
        return spec.image
    registry = os.environ.get(REGISTRY_ENV)
    return f"{registry.rstrip('/')}/{base.lower()}" if registry else f"{base.lower()}:unbuilt"


def _provenance(
    inputs: Inputs | None,
    variant: VariantConfig | None,
    image: str,
    *,
    mode: str,
    reporter: Reporter,
) -> Provenance:
    """What ran, for the job's annotations: the lock and code package the image was built
    from (none in custom mode, whose image podlock did not build)."""
    if inputs is None or variant is None or mode == "custom":
        return Provenance(image=image, variant=variant.name if variant else None)
    path = lock_path(inputs.root, variant.name)
    fingerprint = read_lock(path).meta.fingerprint if path.is_file() else None
    code = collect(inputs.root, inputs.config.code, name=inputs.name, reporter=reporter)
    return Provenance(image=image, variant=variant.name, lock_fingerprint=fingerprint, code=code)


class _BuilderPublisher:
    """``--builder``'s publisher (default: docker when an engine answers and builds for the
    accelerator's platform, else oci), chosen when an image is published: a launch that
    publishes none never probes the engine. An arm64 accelerator's image is built for
    linux/arm64 by the daemonless builder (the engine builds only its own platform)."""

    def __init__(self, args: argparse.Namespace, *, platform: str = "linux/amd64") -> None:
        self.args = args
        self.platform = platform

    def publish(
        self, root: Path, variant: str, *, mode: str, repository: str, reporter: Reporter
    ) -> str:
        from podlock.engine import Engine

        builder = self.args.builder
        if builder is None:
            try:
                engine = Engine.connect(timeout=10)
                own = f"linux/{engine.architecture()}"
                builder = "docker" if own == self.platform else "oci"
                if builder == "oci":
                    reporter.info(
                        f"building the {self.platform} image with the daemonless oci builder "
                        f"(the Docker engine builds {own})"
                    )
            except PodlockError:
                reporter.info("no Docker engine answers: building with the daemonless oci builder")
                builder = "oci"
        publisher: Publisher = (
            OciPublisher(base=self.args.base, platform=self.platform)
            if builder == "oci"
            else DockerPublisher(network=self.args.network, platform=self.platform)
        )
        return publisher.publish(root, variant, mode=mode, repository=repository, reporter=reporter)
