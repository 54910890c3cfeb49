"""``podlock build``: lock → plan → context (wheels verified on the host) → engine → tag.

The edges live here: reading the project and lock, fetching wheels, driving the engine.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

from podlock.builder import uvbin
from podlock.builder.codepackage import collect
from podlock.builder.dockerfile import (
    ChainStep,
    Context,
    render,
    render_chain,
    render_runtime_base,
    write_context,
)
from podlock.builder.engine import BuiltImage, Engine, ImageMissing
from podlock.builder.plan import HEAVY_BYTES, PODLOCK_DIR, LayerPlan, Wheel, plan
from podlock.builder.uvbin import UvBinary
from podlock.builder.wheels import WheelCache
from podlock.config import VariantConfig
from podlock.errors import LockError, PodlockError
from podlock.lockfile import read_lock
from podlock.platforms import Platform
from podlock.project import Inputs, discover
from podlock.reporter import NullReporter, Reporter
from podlock.resolver.indexes import index_plan
from podlock.resolver.pipeline import check

BuildMode = Literal["bundled", "prebuilt", "custom"]
MODES: tuple[BuildMode, ...] = ("bundled", "prebuilt", "custom")


@dataclass(frozen=True, kw_only=True)
class Project:
    inputs: Inputs
    variant: VariantConfig
    plan: LayerPlan


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    ref: str
    image_id: str
    mode: BuildMode
    cached_steps: int = 0
    steps: int = 0


def load(
    root: Path, variant_name: str, *, base: str | None = None, heavy_bytes: int = HEAVY_BYTES
) -> Project:
    """The project's plan; a missing or stale lock is a LockError saying to run `podlock lock`."""
    inputs = discover(root)
    variant = inputs.config.variant(variant_name)
    status = check(inputs, [variant])[0]
    if not status.ok:
        raise LockError(
            f"{status.state}: {status.reason}" if status.reason else status.state,
            path=str(status.path),
            hint=f"run `podlock lock --variant {variant.name}` first",
        )
    loaded = read_lock(status.path)
    code = collect(inputs.root, name=inputs.name)
    layer_plan = plan(
        loaded,
        variant,
        code,
        base_image=base,
        heavy_bytes=heavy_bytes,
        project=inputs.name,
        lock_text=status.path.read_text(encoding="utf-8"),
    )
    return Project(inputs=inputs, variant=variant, plan=layer_plan)


def default_platform(layer_plan: LayerPlan, engine_arch: str | None = None) -> str:
    wanted = f"linux/{engine_arch}" if engine_arch else "linux/amd64"
    if wanted in layer_plan.platforms:
        return wanted
    linux = [p for p in layer_plan.platforms if p.startswith("linux/")]
    if not linux:
        raise PodlockError(
            f"{layer_plan.lock_name} has no linux platform; images need one",
            hint=f"add linux/amd64 to [variants.{layer_plan.variant}] platforms",
        )
    return linux[0]


def wheel_cache(project: Project) -> WheelCache:
    """The cache, with the variant's index credentials (host side only)."""
    auth = {}
    for index in index_plan(project.inputs, project.variant).indexes:
        if index.username is not None or index.password is not None:
            auth[urlsplit(index.url).netloc] = f"{index.username or ''}:{index.password or ''}"
    return WheelCache(auth=auth)


def write(
    project: Project,
    context: Context,
    out: Path,
    *,
    reporter: Reporter,
) -> None:
    """Fetch (and verify) the context's wheels, then write the context under ``out``."""
    cache = wheel_cache(project)
    cache.fetch_all([s for s in context.files.values() if isinstance(s, Wheel)], reporter)
    write_context(context, out, code_root=project.plan.code.root, wheel_path=cache.path)


def build(
    root: Path,
    variant_name: str,
    *,
    mode: str = "bundled",
    base: str | None = None,
    tag: str | None = None,
    ca_cert: Path | None = None,
    network: str | None = None,
    platform: str | None = None,
    heavy_bytes: int = HEAVY_BYTES,
    reporter: Reporter | None = None,
    engine: Engine | None = None,
    no_cache: bool = False,
) -> BuildResult:
    """Build the project's image and tag it (only once the build has succeeded)."""
    reporter = reporter or NullReporter()
    if mode not in MODES:
        raise PodlockError(f"unknown mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    if mode == "custom":
        return _custom(root, variant_name, base, engine)
    project = load(root, variant_name, base=base, heavy_bytes=heavy_bytes)
    engine = engine or Engine.connect()
    arch = engine.architecture()
    target = platform or default_platform(project.plan, arch)
    if Platform.parse(target).arch != arch:
        raise PodlockError(
            f"the engine builds linux/{arch} images, not {target}",
            hint=f"pass --platform linux/{arch}, or build on a {target} engine",
        )
    pinned = engine.pinned(project.plan.base_image)
    if pinned != project.plan.base_image:
        project = load(root, variant_name, base=pinned, heavy_bytes=heavy_bytes)
    cert = ca_cert.read_bytes() if ca_cert else None
    runtime_base = None
    if mode == "prebuilt":
        runtime_base = runtime_base_ref(project, target, cert)
        if engine.image(runtime_base) is None:
            raise ImageMissing(
                runtime_base,
                what="the runtime base image",
                hint=f"run `podlock build-base --project {root} --variant {variant_name}` once",
            )
    ref = tag or project.plan.default_tag
    reporter.info(f"building {ref} ({mode}, {target}) with the Docker engine")
    if mode == "bundled":
        steps = render_chain(project.plan, target, ca_cert=cert, uv=uvbin.for_platform(target))
        built = _build_chain(project, steps, engine, network, reporter, no_cache)
    else:
        context = render(project.plan, target, mode="prebuilt", ca_cert=cert,
                         runtime_base=runtime_base)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="podlock-context-") as tmp:
            write(project, context, Path(tmp), reporter=reporter)
            built = engine.build(Path(tmp), network=network, reporter=reporter, nocache=no_cache)
    image_id = built.id
    if project.plan.system_packages:
        versions = engine.read_file(image_id, f"{PODLOCK_DIR}/system-packages.lock")
        if versions:
            label = ",".join(versions.split())
            image_id = engine.relabel(image_id, {"dev.podlock.system-packages": label})
    engine.tag(image_id, ref)
    reporter.info(f"tagged {ref} ({built.cached_steps} of {built.steps} steps cached)")
    return BuildResult(
        ref=ref,
        image_id=image_id,
        mode=cast(BuildMode, mode),
        cached_steps=built.cached_steps,
        steps=built.steps,
    )


def _build_chain(
    project: Project,
    steps: tuple[ChainStep, ...],
    engine: Engine,
    network: str | None,
    reporter: Reporter,
    no_cache: bool,
) -> BuiltImage:
    """Build ``steps`` in order, each FROM the previous one's image.

    Every step but the last is tagged ``podlock-layers/<layer>:<key>``, where the key covers
    the image it starts from (by ID, so a rebuilt parent means new keys above it) and the
    step's Dockerfile and files (wheels by sha256). A step whose image exists is not built
    at all, its wheels not even fetched, and projects that lock the same runtime on the
    same base share its images."""
    cache = wheel_cache(project)
    parent = installer = project.plan.base_image
    reused = built_steps = 0
    for step in steps:
        context = Context(
            dockerfile=step.dockerfile(parent=parent, installer=installer),
            files=step.context.files,
        )
        tag = ""
        if not step.final:
            tag = f"podlock-layers/{step.name}:{_step_key(engine, parent, installer, context)}"
            if not no_cache and engine.image(tag) is not None:
                reporter.info(f"layer {step.name}: reused {tag}")
                reused += 1
                parent = tag
                installer = tag if step.name == "base" else installer
                continue
            reporter.info(f"layer {step.name}: building")
        cache.fetch_all([s for s in context.files.values() if isinstance(s, Wheel)], reporter)
        with tempfile.TemporaryDirectory(prefix="podlock-context-") as tmp:
            write_context(
                context, Path(tmp), code_root=project.plan.code.root, wheel_path=cache.path
            )
            built = engine.build(Path(tmp), network=network, reporter=reporter,
                                 nocache=no_cache)  # fmt: skip
        if step.final:
            return BuiltImage(
                id=built.id,
                cached_steps=reused + built.cached_steps,
                steps=reused + built_steps + built.steps,
            )
        built_steps += 1
        engine.tag(built.id, tag)
        parent = tag
        installer = tag if step.name == "base" else installer
    raise AssertionError("render_chain ends with the final step")


def _step_key(engine: Engine, parent: str, installer: str, context: Context) -> str:
    key = hashlib.sha256()
    for ref in dict.fromkeys((parent, installer)):
        info = engine.image(ref)
        key.update(f"{ref}\0{info['Id'] if info else ''}\0".encode())
    key.update(context.dockerfile.encode())
    for path, source in context.files.items():
        key.update(f"\0{path}\0{_content_key(source)}".encode())
    return key.hexdigest()[:24]


def _content_key(source: object) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    if isinstance(source, Wheel):
        return source.sha256
    if isinstance(source, UvBinary):
        return source.sha256
    raise TypeError(f"chain layers hold no {type(source).__name__}")


def runtime_base_ref(project: Project, platform: str, ca_cert: bytes | None) -> str:
    """A tag that names the runtime base's inputs, so it is built (and published) once."""
    context = render_runtime_base(project.plan, platform, ca_cert=ca_cert)
    digest = hashlib.sha256(context.dockerfile.encode())
    for path, source in sorted(context.files.items()):
        digest.update(path.encode())
        digest.update(source if isinstance(source, bytes) else repr(source).encode())
    arch = platform.replace("/", "-")
    return f"podlock-runtime/{project.plan.variant}:{arch}-{digest.hexdigest()[:12]}"


def build_base(
    root: Path,
    variant_name: str,
    *,
    base: str | None = None,
    ca_cert: Path | None = None,
    network: str | None = None,
    reporter: Reporter | None = None,
    engine: Engine | None = None,
) -> BuildResult:
    """Build the prebuilt mode's runtime base (base, system packages, runtime) and tag it."""
    reporter = reporter or NullReporter()
    project = load(root, variant_name, base=base)
    engine = engine or Engine.connect()
    target = default_platform(project.plan, engine.architecture())
    pinned = engine.pinned(project.plan.base_image)
    if pinned != project.plan.base_image:
        project = load(root, variant_name, base=pinned)
    cert = ca_cert.read_bytes() if ca_cert else None
    ref = runtime_base_ref(project, target, cert)
    context = render_runtime_base(project.plan, target, ca_cert=cert)
    with tempfile.TemporaryDirectory(prefix="podlock-context-") as tmp:
        write(project, context, Path(tmp), reporter=reporter)
        built = engine.build(Path(tmp), network=network, reporter=reporter)
    engine.tag(built.id, ref)
    return BuildResult(ref=ref, image_id=built.id, mode="prebuilt")


def _custom(root: Path, variant_name: str, base: str | None, engine: Engine | None) -> BuildResult:
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
