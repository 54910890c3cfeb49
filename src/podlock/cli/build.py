"""``podlock build`` and ``podlock build-base``: images with the Docker engine, or daemonless
(``--builder oci``: reproducible OCI images written to a layout, a tarball or a registry)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from podlock.builder.build import (
    MODES,
    BuildResult,
    DockerOptions,
    build_base,
    build_custom,
    build_docker,
    build_mode,
)
from podlock.cli.built import docker_document, oci_document
from podlock.cli.options import add_project, add_variant
from podlock.cli.output import add_format, emit, wants_json
from podlock.engine import Engine
from podlock.errors import PodlockError
from podlock.plan.layerplan import HEAVY_BYTES
from podlock.plan.load import BuildPlan, load_plan
from podlock.registry.base import BaseImageError
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    """Adds ``build``, or ``build-base`` when ``build`` is already there: main's registry
    names this module for both and imports it only for the command being run."""
    if "build" in sub.choices:
        b: argparse.ArgumentParser = sub.add_parser(
            "build-base", help="build the runtime base image that --mode prebuilt starts from"
        )
        _common(b)
        b.set_defaults(run=run_base)
        return
    p: argparse.ArgumentParser = sub.add_parser(
        "build", help="build the variant's image with the Docker engine; prints its reference"
    )
    _common(p)
    p.add_argument("--mode", default="bundled", help=f"one of {', '.join(MODES)} (default bundled)")
    p.add_argument("--tag", help="image reference (default <project>:<variant>-<lock hash>)")
    p.add_argument(
        "--platform",
        help="target platform(s), comma-separated (oci: several give an image index; "
        "default: the engine's or this machine's)",
    )
    p.add_argument(
        "--heavy-mb", type=float, default=HEAVY_BYTES / 2**20,
        help="wheels larger than this get a layer of their own (default %(default)g)",
    )  # fmt: skip
    p.add_argument(
        "--builder", choices=("docker", "oci"),
        help="docker: the Docker engine; oci: daemonless, reproducible (default: docker when an "
        "engine answers, else oci)",
    )  # fmt: skip
    oci = p.add_argument_group("oci builder")
    oci.add_argument("--output-dir", type=Path, help="write an OCI image layout here")
    oci.add_argument("--output-tar", type=Path, help="write a `docker load`-able tarball here")
    oci.add_argument("--load", action="store_true", help="load the image into the Docker engine")
    oci.add_argument("--push", metavar="REF", help="push to REF (prints REF@sha256:...)")
    oci.add_argument("--compression", choices=("gzip", "zstd"), default="gzip")
    oci.add_argument(
        "--create-repository", action="store_true",
        help="create the Artifact Registry repository of --push REF if it is missing",
    )  # fmt: skip
    remote_cache_options(oci)
    add_format(p)
    p.set_defaults(run=run)


def remote_cache_options(p: Any) -> None:
    """--cache-repo and --no-remote-cache (build and push)."""
    p.add_argument(
        "--cache-repo", metavar="REPO",
        help="registry repository that records layer key -> layer (the remote layer cache; "
        "default: the --push repository)",
    )  # fmt: skip
    p.add_argument(
        "--no-remote-cache", action="store_true",
        help="neither look up nor record layers in the registry",
    )  # fmt: skip


def _common(p: argparse.ArgumentParser) -> None:
    add_project(p)
    add_variant(p, required=True)
    p.add_argument("--base", help="base image (overrides the lock's); the image for --mode custom")
    p.add_argument("--ca-cert", type=Path, help="PEM CA bundle to install before any network step")
    p.add_argument("--network", help="network for build steps, e.g. host")


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    builder, no_engine = (args.builder, None) if args.builder else _default_builder(args, reporter)
    if builder == "oci":
        try:
            return _run_oci(args, reporter)
        except BaseImageError as exc:
            if no_engine is None:
                raise
            raise PodlockError(
                f"{no_engine.message}, and the daemonless oci builder tried instead failed: "
                f"{exc.message}",
                hint=f"{no_engine.hint}; or {exc.hint or 'pass --base'}",
            ) from None
    if _asks_for_oci(args):
        raise PodlockError(
            "--output-dir, --output-tar, --load, --push, --compression, --create-repository, "
            "--cache-repo and several platforms are options of the oci builder",
            hint="add --builder oci",
        )
    result = _run_docker(args, reporter)
    if wants_json(args):
        emit(docker_document(result, Engine.connect()))
    else:
        print(result.ref)
    return 0


def _load(args: argparse.Namespace, reporter: Reporter) -> BuildPlan:
    """The plan of the project and variant the arguments name (with the code package)."""
    heavy = _heavy_bytes(args)
    return load_plan(
        args.project, args.variant, base=args.base, heavy_bytes=heavy, reporter=reporter
    )


def _run_docker(args: argparse.Namespace, reporter: Reporter) -> BuildResult:
    mode = build_mode(args.mode)
    if mode == "custom":
        return build_custom(args.project, args.variant, args.base)
    plan = _load(args, reporter)
    options = DockerOptions(
        mode=mode,
        tag=args.tag,
        ca_cert=args.ca_cert,
        network=args.network,
        platform=args.platform,
    )
    return build_docker(plan, options, Engine.connect(), reporter)


def _heavy_bytes(args: argparse.Namespace) -> int:
    return int(args.heavy_mb * 2**20)


def _default_builder(
    args: argparse.Namespace, reporter: Reporter
) -> tuple[str, PodlockError | None]:
    """docker when an engine answers and nothing oci-only was asked for, else oci (with why
    the engine was not used, so a failure can say both)."""
    if args.mode != "bundled" or args.ca_cert or args.network:
        return "docker", None
    if _asks_for_oci(args):
        return "oci", None
    try:
        Engine.connect(timeout=10)
    except PodlockError as exc:
        reporter.info("no Docker engine answers: building with the daemonless oci builder")
        return "oci", exc
    return "docker", None


def _asks_for_oci(args: argparse.Namespace) -> bool:
    """Whether an option only the oci builder has was given."""
    flags = ("output_dir", "output_tar", "push", "load", "create_repository", "cache_repo")
    return (
        any(getattr(args, f) for f in flags)
        or args.compression != "gzip"
        or "," in (args.platform or "")
    )


def _run_oci(args: argparse.Namespace, reporter: Reporter) -> int:
    from podlock.oci.build import OciOptions, build_oci

    if args.mode != "bundled":
        raise PodlockError(
            f"--mode {args.mode} needs the Docker engine", hint="use --builder docker"
        )
    for flag, value in (("--ca-cert", args.ca_cert), ("--network", args.network)):
        if value:
            raise PodlockError(
                f"{flag} is for the docker builder (the oci builder runs nothing in the image)",
                hint="drop it, or use --builder docker",
            )
    options = OciOptions(
        platforms=split_platforms(args.platform),
        compression=args.compression,
        tag=args.tag,
        output_dir=args.output_dir,
        output_tar=args.output_tar,
        load_image=args.load,
        push_to=args.push,
        create_repository=args.create_repository,
        remote_cache=not args.no_remote_cache,
        cache_repo=args.cache_repo,
    )
    plan = _load(args, reporter)
    result = build_oci(plan, options, reporter=reporter)
    reporter.info(f"{result.tag}: {len(result.layers_built)} layers built, "
                  f"{len(result.layers_cached)} from cache, "
                  f"{len(result.layers_remote)} from the registry's layer cache")  # fmt: skip
    if wants_json(args):
        image = result.pushed.ref if result.pushed else result.tag
        reused = (*result.layers_cached, *result.layers_remote)
        emit(oci_document(image, result.built, cached=reused, pushed=result.pushed))
    else:
        print(result.pushed.ref if result.pushed else result.digest)
    return 0


def run_base(args: argparse.Namespace, reporter: Reporter) -> int:
    plan = load_plan(args.project, args.variant, base=args.base, reporter=reporter)
    options = DockerOptions(ca_cert=args.ca_cert, network=args.network)
    result = build_base(plan, options, Engine.connect(), reporter)
    print(result.ref)
    return 0


def split_platforms(text: str | None) -> tuple[str, ...]:
    """``--platform a,b`` as a tuple (empty: the builder's default)."""
    return tuple(p.strip() for p in text.split(",")) if text else ()
