"""``podlock launch``: accelerator → variant → image by digest → manifests → submit → follow.

Each step is a function the CLI wires together: ``choose_variant`` (the variant follows the
accelerator), ``resolve_image`` (publish through a ``Publisher`` unless an image is given),
``job_request``, ``submit`` (all or nothing: an interrupted submission deletes what it may
have created) and ``follow`` (logs, wait, exit code; Ctrl-C asks before cancelling).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.pylock import PackageWheel

from podlock.errors import PodlockError
from podlock.inputs.config import Config, VariantConfig
from podlock.launcher.accelerators import AcceleratorSpec
from podlock.launcher.capacity import Capacity
from podlock.launcher.cluster import Cluster
from podlock.launcher.images import ImageNotPushed, Publisher, in_registry
from podlock.launcher.job import JobHandle, Output
from podlock.launcher.kube_errors import ClusterError
from podlock.launcher.manifests import MAX_NAME, JobRequest, job_name, kind_of, render
from podlock.lock.pylock import read_lock
from podlock.paths import lock_path
from podlock.platforms import Platform
from podlock.registry.reference import Reference
from podlock.reporter import NullReporter, Reporter

MODES = ("bundled", "prebuilt", "custom")
REGISTRY_ENV = "PODLOCK_REGISTRY"


@dataclass(frozen=True, kw_only=True)
class LaunchSpec:
    """What the user asked for, validated by the functions below."""

    accelerator: AcceleratorSpec
    command: tuple[str, ...]
    mode: str = "bundled"
    image: str | None = None
    name: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    env_from_secrets: tuple[str, ...] = ()
    slices: int = 1
    nodes: int = 1  # GPU nodes
    queue: str | None = None  # a Kueue LocalQueue
    capacity: tuple[Capacity, ...] = ()  # a fallback order; render writes the first
    max_restarts: int | None = None
    priority: str | None = None


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    """``K=V`` strings (``--env``) as a dict; a bad one is an error naming it."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PodlockError(f"--env {pair!r}: expected KEY=VALUE")
        out[key] = value
    return out


def choose_variant(config: Config, spec: AcceleratorSpec, name: str | None) -> VariantConfig:
    """The project's variant for ``spec``'s hardware (TPU → tpu, GPU → cuda, cpu → cpu)."""
    want = spec.variant_accelerator
    if name is not None:
        variant = config.variant(name)
        if variant.accelerator != want:
            raise PodlockError(
                f"variant {name} is a {variant.accelerator} lock, but {spec.name} is a "
                f"{spec.kind} accelerator: its packages would not run there",
                hint=_which(config, want, spec),
            )
        return variant
    matches = [v for v in config.variants if v.accelerator == want]
    if not matches:
        raise PodlockError(
            f"{spec.name} needs a {want} variant, and this project has none "
            f"(its variants: {', '.join(v.name for v in config.variants)})",
            hint=f'add "{want}" to variants in the podlock config, then `podlock lock`',
        )
    exact = [v for v in matches if v.name == want]
    if len(matches) > 1 and not exact:
        raise PodlockError(
            f"several {want} variants: {', '.join(v.name for v in matches)}",
            hint="pick one with --variant",
        )
    return (exact or matches)[0]


def check_platform(
    root: Path, config: Config, variant: VariantConfig, spec: AcceleratorSpec
) -> None:
    """The variant's lock covers the platform of ``spec``'s hosts (linux/arm64 for GB200),
    with a wheel of every package for it: checked before anything is built, so a lock or a
    package without an arm64 build is an error naming the file, not a failed build."""
    if spec.arch == "amd64":
        return  # every variant locks linux/amd64 unless told otherwise; the build checks it
    path = lock_path(root, variant.name)
    lock = read_lock(path)
    platform = Platform.parse(spec.platform)
    where = config.file or "the podlock config"
    lock.require_platform(
        platform,
        what=f", and {spec.name} runs on {spec.arch} hosts",
        hint=f'add "{spec.platform}" to platforms in [variants.{variant.name}] of {where} '
        f"(or its top-level platforms), then `podlock lock --variant {variant.name}`",
    )
    missing = [
        f"{package.name} {package.version}"
        for package, artifact in lock.select(platform, hint="run `podlock lock`")
        if not isinstance(artifact, PackageWheel)
    ]
    if missing:
        raise PodlockError(
            f"{path.name} has no {spec.platform} wheel for {', '.join(missing)}; "
            f"{spec.name} runs on {spec.arch} hosts and podlock builds images from wheels only",
            hint="pin versions that publish manylinux aarch64 wheels, or drop the package from "
            f"the {variant.name} variant",
        )


def _which(config: Config, want: str, spec: AcceleratorSpec) -> str:
    fits = [v.name for v in config.variants if v.accelerator == want]
    if fits:
        return f"use --variant {fits[0]} (or leave --variant out) for {spec.name}"
    return f'add a "{want}" variant to the podlock config and run `podlock lock`'


def resolve_image(
    spec: LaunchSpec,
    *,
    root: Path | None,
    variant: VariantConfig | None,
    publisher: Publisher | None,
    reporter: Reporter | None = None,
    environ: Mapping[str, str] | None = None,
    check: Callable[[Reference], bool | None] = in_registry,
) -> str:
    """The image the job runs, by digest when podlock publishes it.

    An image given with a digest is used as it is; ``custom`` uses the given image; the
    other modes build and push to ``--image REPOSITORY`` (or ``$PODLOCK_REGISTRY/<project>``).
    """
    reporter = reporter or NullReporter()
    environ = os.environ if environ is None else environ
    if spec.mode not in MODES:
        raise PodlockError(f"unknown mode {spec.mode!r}", hint=f"use one of {', '.join(MODES)}")
    given = Reference.parse(spec.image, rules="launch") if spec.image else None
    if given is not None and (given.digest or spec.mode == "custom"):
        if given.digest is None:
            reporter.warn(
                f"{given.as_written()} is a tag: the cluster runs whatever it points to when "
                "the pod starts; pass REF@sha256:... to pin it"
            )
        if check(given) is False:
            raise ImageNotPushed(given)
        return given.as_written()
    if spec.mode == "custom":
        raise PodlockError(
            "--mode custom runs your image: pass it with --image REF",
            hint="e.g. --image us-docker.pkg.dev/PROJECT/REPO/IMAGE@sha256:...",
        )
    if root is None or variant is None:
        raise PodlockError(f"--mode {spec.mode} builds the project's image: it needs --project")
    repository = given.written_name if given else None
    if repository is None and environ.get(REGISTRY_ENV):
        repository = f"{environ[REGISTRY_ENV].rstrip('/')}/{root.name.lower()}"
    if repository is None:
        raise PodlockError(
            f"--mode {spec.mode} pushes the image, but no registry was named",
            hint=f"pass --image REGISTRY/REPOSITORY or set {REGISTRY_ENV}=REGISTRY/PATH "
            "(e.g. us-docker.pkg.dev/PROJECT/REPO)",
        )
    if Reference.parse(repository, rules="launch").written_registry is None:
        raise PodlockError(
            f"{repository} names no registry host; the cluster pulls from a registry",
            hint="e.g. --image us-docker.pkg.dev/PROJECT/REPO/NAME or 127.0.0.1:5000/NAME",
        )
    if publisher is None:
        raise PodlockError("no publisher to build and push the image")
    ref = publisher.publish(
        root, variant.name, mode=spec.mode, repository=repository, reporter=reporter
    )
    if Reference.parse(ref, rules="launch").digest is None:
        raise PodlockError(f"the publisher returned {ref}, which has no digest")
    return ref


def job_request(
    spec: LaunchSpec,
    image: str,
    *,
    base: str,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    unique: bool = True,
) -> JobRequest:
    """The manifest inputs; ``unique`` adds a random suffix so relaunches never collide."""
    if spec.name:
        name = spec.name
    else:
        slices = f"x{spec.slices}" if spec.slices > 1 else ""
        nodes = f"-n{spec.nodes}" if spec.nodes > 1 else ""
        stem = job_name(f"{base}-{spec.accelerator.name.removeprefix('tpu-')}{slices}{nodes}")
        if unique:
            stem = stem[: MAX_NAME - 6].rstrip("-") + "-" + _suffix()
        name = stem
    return JobRequest(
        name=name,
        image=image,
        command=spec.command,
        accelerator=spec.accelerator,
        namespace=namespace,
        env=dict(spec.env),
        env_from_secrets=spec.env_from_secrets,
        labels={"podlock.dev/accelerator": spec.accelerator.name, **(labels or {})},
        annotations=dict(annotations or {}),
        keep_entrypoint=spec.mode == "prebuilt",
        slices=spec.slices,
        nodes=spec.nodes,
        queue=spec.queue,
        capacity=spec.capacity[0] if spec.capacity else None,
        max_restarts=spec.max_restarts,
        priority=spec.priority,
    )


def _suffix() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(5))


def submit(cluster: Cluster, request: JobRequest) -> JobHandle:
    """Create the job's objects, all or none: if creation is interrupted (Ctrl-C) or fails
    part-way, whatever may have been created is deleted before the error goes on."""
    manifests = render(request)
    created: list[dict[str, Any]] = []
    in_flight: dict[str, Any] | None = None
    try:
        for manifest in manifests:
            in_flight = manifest
            cluster.create(manifest)
            created.append(manifest)
            in_flight = None
    except ClusterError as exc:
        # When the API answered, the object that failed was not created (and a 409 means
        # it belongs to someone else: never delete it); without an answer it may have been.
        unknown = [in_flight] if in_flight is not None and exc.status == 0 else []
        _undo(cluster, [*created, *unknown])
        raise
    except BaseException:
        _undo(cluster, [*created, *([in_flight] if in_flight else [])])
        raise
    return JobHandle(cluster, kind_of(request), request.name)


def _undo(cluster: Cluster, manifests: list[dict[str, Any]]) -> None:
    for manifest in reversed(manifests):
        with contextlib.suppress(PodlockError):
            cluster.delete(manifest["kind"], manifest["metadata"]["name"])


def follow(
    handle: JobHandle,
    out: Output,
    *,
    confirm: Callable[[str], bool],
    reporter: Reporter | None = None,
    all_logs: bool = False,
    poll: float = 2.0,
    explain_after: float = 60.0,
    pending_timeout: float = 900.0,
) -> int:
    """Logs until the job ends; its exit code. On Ctrl-C, ``confirm`` decides whether the
    job is cancelled (foreground delete) or left running; 130 either way."""
    reporter = reporter or NullReporter()
    try:
        return handle.wait(
            out,
            all_logs=all_logs,
            poll=poll,
            explain_after=explain_after,
            pending_timeout=pending_timeout,
            reporter=reporter,
        )
    except KeyboardInterrupt:
        if confirm(f"cancel {handle.kind} {handle.name}? [y/N] "):
            handle.cancel()
            reporter.info(f"cancelled {handle.name}; its pods are deleted first")
        else:
            reporter.info(
                f"{handle.name} keeps running: `podlock jobs logs {handle.name}` follows it, "
                f"`podlock jobs cancel {handle.name}` stops it"
            )
        return 130
