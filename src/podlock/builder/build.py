"""``podlock build``: lock → plan → context (wheels verified on the host) → engine → tag.

The edges live here: reading the project and lock, fetching wheels, driving the engine.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from podlock.builder.chain import HostLayers, StepBuild, build_chain, hash_context
from podlock.builder.dockerfile import (
    Context,
    HostInstall,
    render,
    render_chain,
    render_runtime_base,
    write_context,
)
from podlock.engine import BuiltImage, Engine, ImageMissing
from podlock.errors import PodlockError
from podlock.inputs.discover import discover
from podlock.layers import uvbin
from podlock.layers.diskspace import check_build
from podlock.layers.fetch import fetch_all
from podlock.layers.install import Target, compiler_for
from podlock.layers.wheels import WheelCache, wheel_cache
from podlock.plan.layerplan import Wheel
from podlock.plan.load import BuildPlan, default_platform
from podlock.platforms import Platform
from podlock.reporter import NullReporter, Reporter

BuildMode = Literal["bundled", "prebuilt", "custom"]
MODES: tuple[BuildMode, ...] = ("bundled", "prebuilt", "custom")


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    ref: str
    image_id: str
    mode: BuildMode
    cached_steps: int = 0
    steps: int = 0


def write(
    project: BuildPlan,
    context: Context,
    out: Path,
    *,
    reporter: Reporter,
    cache: WheelCache | None = None,
) -> None:
    """Fetch (and verify) the context's wheels, then write the context under ``out``."""
    cache = cache or wheel_cache(project)
    wheels = [s for s in context.files.values() if isinstance(s, Wheel)]
    # Wheels are hard-linked into the context: the downloads are what lands here.
    check_build(wheels, cache, None, None, blobs=None, what=f"the context in {out}")
    fetch_all(cache, wheels, reporter)
    write_context(
        context, out, code_root=project.plan.code.root, wheel_path=cache.path, reporter=reporter
    )


def host_install(python: str) -> HostInstall | None:
    """Wheel layers installed on the host when a CPython of the image's X.Y is here to
    compile their bytecode; otherwise (None) inside the build, which compiles it there."""
    compiler, version = compiler_for(python)
    if compiler is None:
        return None
    return HostInstall(target=Target(python=python), compiler=compiler, compiler_version=version)


@dataclass(frozen=True, kw_only=True)
class DockerOptions:
    """How ``build_docker`` builds a plan (the base image and heavy size are the plan's)."""

    mode: BuildMode = "bundled"
    tag: str | None = None  # default: the plan's
    ca_cert: Path | None = None  # PEM bundle installed before any network step
    network: str | None = None  # for the build steps, e.g. "host"
    platform: str | None = None  # default: the engine's
    no_cache: bool = False


def build_mode(text: str) -> BuildMode:
    """``text`` as a mode, or an error that lists them."""
    if text not in MODES:
        raise PodlockError(f"unknown mode {text!r}", hint=f"use one of {', '.join(MODES)}")
    return text


def build_docker(
    plan: BuildPlan,
    options: DockerOptions,
    engine: Engine,
    reporter: Reporter | None = None,
) -> BuildResult:
    """Build the plan's image (bundled or prebuilt) and tag it, once the build succeeded.
    (``--mode custom`` builds nothing: see ``build_custom``.)"""
    reporter = reporter or NullReporter()
    if options.mode == "custom":
        raise PodlockError("--mode custom builds nothing: its image is --base, used as it is")
    arch = engine.architecture()
    target = options.platform or default_platform(plan.plan, arch)
    if Platform.parse(target).arch != arch:
        raise PodlockError(
            f"the engine builds linux/{arch} images, not {target}",
            hint=f"pass --platform linux/{arch}, or build on a {target} engine",
        )
    plan = _on_engine(plan, engine, target, reporter)
    cert = options.ca_cert.read_bytes() if options.ca_cert else None
    runtime_base = (
        _runtime_base_on(plan, target, cert, engine) if options.mode == "prebuilt" else ""
    )
    ref = options.tag or plan.plan.default_tag
    reporter.info(f"building {ref} ({options.mode}, {target}) with the Docker engine")
    if options.mode == "bundled":
        built = _build_bundled(plan, target, cert, options, engine, reporter)
    else:
        context = render(plan.plan, target, mode="prebuilt", ca_cert=cert,
                         runtime_base=runtime_base)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="podlock-context-") as tmp:
            write(plan, context, Path(tmp), reporter=reporter)
            built = engine.build(
                Path(tmp), network=options.network, reporter=reporter, nocache=options.no_cache
            )
    engine.tag(built.id, ref)
    reporter.info(f"tagged {ref} ({built.cached_steps} of {built.steps} steps cached)")
    return BuildResult(
        ref=ref,
        image_id=built.id,
        mode=options.mode,
        cached_steps=built.cached_steps,
        steps=built.steps,
    )


def _runtime_base_on(plan: BuildPlan, target: str, cert: bytes | None, engine: Engine) -> str:
    """The runtime base the prebuilt image starts from, which ``engine`` must have."""
    runtime_base, _ = _runtime_base(plan, target, cert)
    if engine.image(runtime_base) is None:
        raise ImageMissing(
            runtime_base,
            what="the runtime base image",
            hint=f"run `podlock build-base --project {plan.root} --variant {plan.variant.name}` "
            "once",
        )
    return runtime_base


def _on_engine(plan: BuildPlan, engine: Engine, target: str, reporter: Reporter) -> BuildPlan:
    """The plan on ``engine``'s digest of its base, with its system layer there if it has one."""
    plan = plan.pinned(engine)
    if plan.plan.system_packages:
        from podlock.builder.systemlayer import with_system_layer

        plan = with_system_layer(plan, engine, target, reporter)
    return plan


def _build_bundled(
    plan: BuildPlan,
    target: str,
    cert: bytes | None,
    options: DockerOptions,
    engine: Engine,
    reporter: Reporter,
) -> BuiltImage:
    """The bundled image as a chain of builds, one per layer (see ``build_chain``)."""
    host = host_install(plan.plan.python)
    if host is None:
        reporter.info(f"no CPython {plan.plan.python} here: wheels are installed inside the build")
    uv = None if host else uvbin.for_platform(target)  # host layers install no wheels
    steps = render_chain(plan.plan, target, ca_cert=cert, uv=uv, host=host)
    cache = wheel_cache(plan)
    layers = HostLayers(cache, host, reporter) if host else None
    how = StepBuild(
        engine=engine,
        cache=cache,
        reporter=reporter,
        network=options.network,
        no_cache=options.no_cache,
        layers=layers,
    )
    try:
        return build_chain(plan, steps, how)
    finally:
        if layers:
            layers.close()


def _runtime_base(plan: BuildPlan, platform: str, ca_cert: bytes | None) -> tuple[str, Context]:
    """The runtime base's context, and a tag that names its inputs so that it is built (and
    published) once."""
    context = render_runtime_base(plan.plan, platform, ca_cert=ca_cert)
    digest = hashlib.sha256()
    hash_context(digest, context)
    arch = platform.replace("/", "-")
    return f"podlock-runtime/{plan.plan.variant}:{arch}-{digest.hexdigest()[:12]}", context


def build_base(
    plan: BuildPlan,
    options: DockerOptions,
    engine: Engine,
    reporter: Reporter | None = None,
) -> BuildResult:
    """Build the prebuilt mode's runtime base (base, system packages, runtime) and tag it
    (``options``: its CA certificate and network)."""
    reporter = reporter or NullReporter()
    target = default_platform(plan.plan, engine.architecture())
    plan = _on_engine(plan, engine, target, reporter)
    cert = options.ca_cert.read_bytes() if options.ca_cert else None
    ref, context = _runtime_base(plan, target, cert)
    with tempfile.TemporaryDirectory(prefix="podlock-context-") as tmp:
        write(plan, context, Path(tmp), reporter=reporter)
        built = engine.build(Path(tmp), network=options.network, reporter=reporter)
    engine.tag(built.id, ref)
    return BuildResult(ref=ref, image_id=built.id, mode="prebuilt")


def build_custom(
    root: Path, variant_name: str, base: str | None, engine: Engine | None = None
) -> BuildResult:
    """``--mode custom``: the image is ``base``, used as it is (no lock needed)."""
    if not base:
        raise PodlockError(
            "--mode custom needs --base IMAGE (your image, used as it is)",
            hint="e.g. podlock build --mode custom --base registry.example/team/img:tag",
        )
    discover(root).config.variant(variant_name)  # the variant must exist
    engine = engine or Engine.connect()
    info = engine.image(base)
    if info is None:
        raise ImageMissing(base, hint=f"pull or build it first (`docker pull {base}`)")
    return BuildResult(ref=base, image_id=str(info["Id"]), mode="custom")
