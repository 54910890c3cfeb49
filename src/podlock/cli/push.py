"""``podlock push REF``: push an OCI layout (``--layout``), or build the project with the oci
builder and push it; prints ``REF@sha256:...``."""

from __future__ import annotations

import argparse
from typing import Any

from podlock.cli.built import oci_document
from podlock.cli.options import add_project, add_variant
from podlock.cli.output import add_format, emit, wants_json
from podlock.plan.layerplan import HEAVY_BYTES
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "push", help="push the image to a registry (only the blobs it lacks)"
    )
    p.add_argument("ref", metavar="REF", help="where to push: host[:port]/repository[:tag]")
    p.add_argument("--layout", help="push this OCI layout (DIR or DIR:TAG) instead of building")
    add_project(p)
    add_variant(p, help="the variant to build and push (without --layout)")
    p.add_argument("--base", help="base image (overrides the lock's)")
    p.add_argument("--platform", help="target platform(s), comma-separated")
    p.add_argument("--compression", choices=("gzip", "zstd"), default="gzip")
    p.add_argument("--heavy-mb", type=float, default=HEAVY_BYTES / 2**20)
    p.add_argument(
        "--create-repository",
        action="store_true",
        help="create the Artifact Registry repository if it is missing",
    )
    from podlock.cli.build import remote_cache_options

    remote_cache_options(p)
    add_format(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    from podlock.cli.build import split_platforms
    from podlock.errors import PodlockError
    from podlock.oci.build import OciOptions, build_oci
    from podlock.oci.push import from_layout, push
    from podlock.plan.load import load_plan
    from podlock.registry.base import split_layout
    from podlock.registry.blobs import BlobStore
    from podlock.registry.reference import Reference

    if args.layout:
        ref = Reference.parse(args.ref)
        if args.create_repository:
            from podlock.registry.gar import ensure_repository

            ensure_repository(ref, create=True, reporter=reporter)
        path, tag = split_layout(args.layout)
        store = BlobStore()
        built = from_layout(path, tag or None, store)
        pushed = push(built, ref, store, reporter=reporter)
        if wants_json(args):
            emit(oci_document(pushed.ref, built, pushed=pushed))
        else:
            print(pushed.ref)
        return 0
    if not args.variant:
        raise PodlockError("podlock push needs --layout DIR or --variant V (to build first)")
    options = OciOptions(
        platforms=split_platforms(args.platform),
        compression=args.compression,
        push_to=args.ref,
        create_repository=args.create_repository,
        remote_cache=not args.no_remote_cache,
        cache_repo=args.cache_repo,
    )
    heavy = int(args.heavy_mb * 2**20)
    plan = load_plan(
        args.project, args.variant, base=args.base, heavy_bytes=heavy, reporter=reporter
    )
    result = build_oci(plan, options, reporter=reporter)
    assert result.pushed is not None
    if wants_json(args):
        emit(oci_document(result.pushed.ref, result.built, pushed=result.pushed))
    else:
        print(result.pushed.ref)
    return 0
