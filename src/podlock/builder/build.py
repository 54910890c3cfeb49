"""``podlock build``: lock → plan → context (wheels verified on the host) → engine → tag.

The edges live here: reading the project and lock, fetching wheels, driving the engine.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from podlock.builder.dockerfile import (
    ChainStep,
    Context,
    FileSource,
    HostInstall,
    InstalledLayer,
    render,
    render_chain,
    render_runtime_base,
    write_context,
)
from podlock.builder.layerimages import LAYER_REPO, mark_layer_image
from podlock.builder.loadlayer import layer_tarball
from podlock.engine import BuiltImage, Engine, ImageMissing
from podlock.errors import PodlockError
from podlock.inputs.discover import discover
from podlock.layers import uvbin
from podlock.layers.fetch import Fetcher, fetch_all
from podlock.layers.install import Target, compiler_for
from podlock.layers.installed import wheel_entries
from podlock.layers.tarlayer import (
    Entry,
    entry_chunks,
    file,
    nested_chunks,
    normalised,
    tar_end,
)
from podlock.layers.uvbin import UvBinary
from podlock.layers.wheels import WheelCache, wheel_cache
from podlock.lock.system import SystemTar
from podlock.plan.layerplan import HEAVY_BYTES, Wheel
from podlock.plan.load import BuildPlan, default_platform, load_plan
from podlock.platforms import Platform
from podlock.registry.model import DEFAULT_EPOCH
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
    fetch_all(cache, [s for s in context.files.values() if isinstance(s, Wheel)], reporter)
    write_context(
        context, out, code_root=project.plan.code.root, wheel_path=cache.path, reporter=reporter
    )


def context_stream(
    context: Context,
    *,
    code_root: Path,
    cache: WheelCache,
    nested: Mapping[str, Sequence[Entry]] | None = None,
) -> Iterator[bytes]:
    """The context as the tar the engine reads, streamed to it: nothing is copied on disk
    first. Same content, modes and mtimes as ``write_context`` would leave on disk, plus
    ``nested``: path -> the entries of a tar placed there (made as it streams)."""
    nested = dict(nested or {})
    entries = []
    for rel, source in context.all_files().items():
        if isinstance(source, bytes):
            entries.append(file(rel, source))
        elif isinstance(source, Wheel):
            entries.append(file(rel, cache.path(source)))
        elif isinstance(source, UvBinary):
            entries.append(file(rel, source.read(), executable=True))
        elif isinstance(source, SystemTar):
            from podlock.layers.system import tar_entries

            nested[rel] = tar_entries(source)
        else:
            entries.append(file(rel, code_root / source.path, executable=source.executable))
    entries += [file(rel, b"") for rel in nested]  # their places in the order
    total = 0
    for entry in normalised(entries):
        if entry.path in nested:
            chunks = nested_chunks(entry.path, nested[entry.path], mtime=DEFAULT_EPOCH)
        else:
            chunks = entry_chunks(entry, mtime=DEFAULT_EPOCH)
        for chunk in chunks:
            total += len(chunk)
            yield chunk
    yield tar_end(total)


def host_install(python: str) -> HostInstall | None:
    """Wheel layers installed on the host when a CPython of the image's X.Y is here to
    compile their bytecode; otherwise (None) inside the build, which compiles it there."""
    compiler, version = compiler_for(python)
    if compiler is None:
        return None
    return HostInstall(target=Target(python=python), compiler=compiler, compiler_version=version)


class HostLayers:
    """The installed trees of the chain's host-installed layers, prepared in a background
    thread, in order, while the engine takes in the layers below; then each is loaded into
    the engine as one layer (or, where the engine cannot stack a loaded layer on an image
    it has, streamed as the tar its step's Dockerfile ADDs). Every layer's wheels start
    downloading at once, so a layer waits only for its own."""

    def __init__(self, cache: WheelCache, host: HostInstall, reporter: Reporter) -> None:
        self.host = host
        self.reporter = reporter
        self._fetcher = Fetcher(cache, reporter)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="podlock-layers")
        self._jobs: dict[str, Future[list[Entry]]] = {}

    def prepare(self, layers: list[InstalledLayer]) -> None:
        new = [layer for layer in layers if layer.sha256 not in self._jobs]
        self._fetcher.start(w for layer in new for w in layer.wheels)
        for layer in new:
            self._jobs[layer.sha256] = self._pool.submit(self._entries, layer)

    def _entries(self, layer: InstalledLayer) -> list[Entry]:
        paths = self._fetcher.paths(layer.wheels)
        return wheel_entries(
            layer.wheels,
            paths,
            self.host.target,
            compiler=self.host.compiler,
            compiler_version=self.host.compiler_version,
            layer=layer.name,
            reporter=self.reporter,
        )

    def entries(self, layer: InstalledLayer) -> list[Entry]:
        """The layer's entries, normalised (waits for its trees)."""
        self.prepare([layer])
        return normalised(self._jobs[layer.sha256].result())

    def load(self, step: ChainStep, parent: str, tag: str, engine: Engine) -> None:
        """Load ``step``'s layer into ``engine`` on top of ``parent``, tagged ``tag``."""
        assert step.installed is not None
        info = engine.image(parent)
        if info is None:
            raise ImageMissing(parent, what="the layer below " + step.name)
        comment = step.context.dockerfile.splitlines()[0].lstrip("# ")
        tarball = layer_tarball(
            info,
            engine.history(parent),
            self.entries(step.installed),
            tag=tag,
            created_by=f"podlock: {comment}",
            mtime=DEFAULT_EPOCH,
        )
        engine.load(tarball)
        self.reporter.info(f"layer {step.name}: loaded")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._fetcher.close()


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
    project = load_plan(root, variant_name, base=base, heavy_bytes=heavy_bytes)
    engine = engine or Engine.connect()
    arch = engine.architecture()
    target = platform or default_platform(project.plan, arch)
    if Platform.parse(target).arch != arch:
        raise PodlockError(
            f"the engine builds linux/{arch} images, not {target}",
            hint=f"pass --platform linux/{arch}, or build on a {target} engine",
        )
    project = project.pinned(engine)
    if project.plan.system_packages:
        from podlock.builder.systemlayer import with_system_layer

        project = with_system_layer(project, engine, target, reporter)
    cert = ca_cert.read_bytes() if ca_cert else None
    runtime_base = None
    if mode == "prebuilt":
        runtime_base, _ = _runtime_base(project, target, cert)
        if engine.image(runtime_base) is None:
            raise ImageMissing(
                runtime_base,
                what="the runtime base image",
                hint=f"run `podlock build-base --project {root} --variant {variant_name}` once",
            )
    ref = tag or project.plan.default_tag
    reporter.info(f"building {ref} ({mode}, {target}) with the Docker engine")
    if mode == "bundled":
        host = host_install(project.plan.python)
        if host is None:
            reporter.info(
                f"no CPython {project.plan.python} here: wheels are installed inside the build"
            )
        uv = None if host else uvbin.for_platform(target)  # host layers install no wheels
        steps = render_chain(project.plan, target, ca_cert=cert, uv=uv, host=host)
        cache = wheel_cache(project)
        layers = HostLayers(cache, host, reporter) if host else None
        try:
            built = _build_chain(project, steps, engine, network, reporter, no_cache, cache, layers)
        finally:
            if layers:
                layers.close()
    else:
        context = render(project.plan, target, mode="prebuilt", ca_cert=cert,
                         runtime_base=runtime_base)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="podlock-context-") as tmp:
            write(project, context, Path(tmp), reporter=reporter)
            built = engine.build(Path(tmp), network=network, reporter=reporter, nocache=no_cache)
    image_id = built.id
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
    project: BuildPlan,
    steps: tuple[ChainStep, ...],
    engine: Engine,
    network: str | None,
    reporter: Reporter,
    no_cache: bool,
    cache: WheelCache,
    layers: HostLayers | None = None,
) -> BuiltImage:
    """Build ``steps`` in order, each FROM the previous one's image.

    Every step but the last is tagged ``podlock-layers/<layer>:<key>``, where the key covers
    the image it starts from (by ID, so a rebuilt parent means new keys above it) and the
    step's Dockerfile and files (wheels by sha256). A step whose image exists is not built
    at all, its wheels not even fetched, and projects that lock the same runtime on the
    same base share its images. Once one step must be built, every one above it will be
    too (their parent changed): ``layers`` starts preparing all their trees."""
    ids: dict[str, str] = {}  # ref -> image ID ("" when absent): each image inspected once

    def image_id(ref: str) -> str:
        if ref not in ids:
            info = engine.image(ref)
            ids[ref] = str(info["Id"]) if info else ""
        return ids[ref]

    def build_step(context: Context, installed: InstalledLayer | None = None) -> BuiltImage:
        wheels = [s for s in context.files.values() if isinstance(s, Wheel)]
        fetch_all(cache, wheels, reporter)
        nested = {}
        if installed is not None:
            if layers is None:
                raise PodlockError(f"layer {installed.name} is installed on the host, but no host")
            nested[installed.context_path] = layers.entries(installed)
        stream = context_stream(
            context, code_root=project.plan.code.root, cache=cache, nested=nested
        )
        return engine.build(stream, network=network, reporter=reporter, nocache=no_cache)

    parent = installer = project.plan.base_image
    reused = built_steps = 0
    for i, step in enumerate(steps):
        context = Context(
            dockerfile=step.dockerfile(parent=parent, installer=installer),
            files=step.context.files,
        )
        if step.final:
            built = build_step(context)
            return BuiltImage(
                id=built.id,
                cached_steps=reused + built.cached_steps,
                steps=reused + built_steps + built.steps,
            )
        loads = step.installed is not None and layers is not None and engine.stacks_loaded_layers()
        key = _step_key({ref: image_id(ref) for ref in (parent, installer)}, context, step, loads)
        tag = f"{LAYER_REPO}{step.name}:{key}"
        mark_layer_image(tag)
        if not no_cache and image_id(tag):
            reporter.info(f"layer {step.name}: reused {tag}")
            reused += 1
        else:
            reporter.info(f"layer {step.name}: building {tag}")
            if layers:
                layers.prepare([s.installed for s in steps[i:] if s.installed is not None])
            if loads and layers:
                layers.load(step, parent, tag, engine)
            else:
                engine.tag(build_step(context, step.installed).id, tag)
            ids.pop(tag, None)
            built_steps += 1
        parent = tag
        if step.name == "base":
            installer = tag
    raise AssertionError("render_chain ends with the final step")


def _step_key(images: dict[str, str], context: Context, step: ChainStep, load: bool) -> str:
    """``images``: the refs the step starts from, each with its image ID. A loaded layer
    and an ADDed one hold the same files in different tars: each has its own key."""
    key = hashlib.sha256()
    for ref, image_id in images.items():
        key.update(f"{ref}\0{image_id}\0".encode())
    _hash_context(key, context)
    if step.installed is not None:
        how = "load" if load else "add"
        key.update(f"\0installed\0{step.installed.sha256}\0{how}".encode())
    return key.hexdigest()[:24]


def _hash_context(digest: hashlib._Hash, context: Context) -> None:
    """Feed ``context`` to ``digest``: its Dockerfile and each file by content (wheels by
    their locked sha256, so nothing is read)."""
    digest.update(context.dockerfile.encode())
    for path, source in context.files.items():
        digest.update(f"\0{path}\0{_content_key(source)}".encode())


def _content_key(source: FileSource) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    if isinstance(source, Wheel | UvBinary):
        return source.sha256
    raise TypeError(f"dependency layers hold no {type(source).__name__}")


def _runtime_base(project: BuildPlan, platform: str, ca_cert: bytes | None) -> tuple[str, Context]:
    """The runtime base's context, and a tag that names its inputs so that it is built (and
    published) once."""
    context = render_runtime_base(project.plan, platform, ca_cert=ca_cert)
    digest = hashlib.sha256()
    _hash_context(digest, context)
    arch = platform.replace("/", "-")
    return f"podlock-runtime/{project.plan.variant}:{arch}-{digest.hexdigest()[:12]}", context


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
    project = load_plan(root, variant_name, base=base)
    engine = engine or Engine.connect()
    target = default_platform(project.plan, engine.architecture())
    project = project.pinned(engine)
    if project.plan.system_packages:
        from podlock.builder.systemlayer import with_system_layer

        project = with_system_layer(project, engine, target, reporter)
    cert = ca_cert.read_bytes() if ca_cert else None
    ref, context = _runtime_base(project, target, cert)
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
