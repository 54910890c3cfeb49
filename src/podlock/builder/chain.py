"""``podlock build``'s bundled image as a chain of small builds, each FROM the last.

Each step but the last is tagged by a key of what it starts from and holds, so a step whose
image exists is not built at all; wheel layers installed on the host are loaded into the
engine as layers (or streamed as the tar a step ADDs) while the layers below build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from podlock.builder.dockerfile import ChainStep, Context, FileSource, HostInstall, InstalledLayer
from podlock.builder.layerimages import LAYER_REPO, mark_layer_image
from podlock.builder.loadlayer import layer_tarball
from podlock.engine import BuiltImage, Engine, ImageMissing
from podlock.errors import PodlockError
from podlock.layers.diskspace import check_build, installed_size
from podlock.layers.fetch import Fetcher, fetch_all
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
from podlock.layers.wheels import WheelCache
from podlock.lock.system import SystemTar
from podlock.plan.layerplan import Wheel
from podlock.plan.load import BuildPlan
from podlock.registry.model import DEFAULT_EPOCH
from podlock.reporter import Reporter


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


@dataclass(frozen=True, kw_only=True)
class StepBuild:
    """How each step is built: where its wheels come from and how the engine runs it."""

    engine: Engine
    cache: WheelCache
    reporter: Reporter
    network: str | None = None
    no_cache: bool = False
    layers: HostLayers | None = None  # the host-installed layers' trees


def build_chain(project: BuildPlan, steps: tuple[ChainStep, ...], how: StepBuild) -> BuiltImage:
    """Build ``steps`` in order, each FROM the previous one's image.

    Every step but the last is tagged ``podlock-layers/<layer>:<key>``, where the key covers
    the image it starts from (by ID, so a rebuilt parent means new keys above it) and the
    step's Dockerfile and files (wheels by sha256). A step whose image exists is not built
    at all, its wheels not even fetched, and projects that lock the same runtime on the
    same base share its images. Once one step must be built, every one above it will be
    too (their parent changed): ``how.layers`` starts preparing all their trees."""
    engine, layers, reporter = how.engine, how.layers, how.reporter
    ids: dict[str, str] = {}  # ref -> image ID ("" when absent): each image inspected once

    def image_id(ref: str) -> str:
        if ref not in ids:
            info = engine.image(ref)
            ids[ref] = str(info["Id"]) if info else ""
        return ids[ref]

    parent = installer = project.plan.base_image
    reused = built_steps = 0
    for i, step in enumerate(steps):
        context = Context(
            dockerfile=step.dockerfile(parent=parent, installer=installer),
            files=step.context.files,
        )
        if step.final:
            built = _build_step(project, context, how)
            return BuiltImage(
                id=built.id,
                cached_steps=reused + built.cached_steps,
                steps=reused + built_steps + built.steps,
            )
        loads = step.installed is not None and layers is not None and engine.stacks_loaded_layers()
        key = _step_key({ref: image_id(ref) for ref in (parent, installer)}, context, step, loads)
        tag = f"{LAYER_REPO}{step.name}:{key}"
        mark_layer_image(tag)
        if not how.no_cache and image_id(tag):
            reporter.info(f"layer {step.name}: reused {tag}")
            reused += 1
        else:
            reporter.info(f"layer {step.name}: building {tag}")
            if not built_steps:
                check_space(steps[i:], how, project.plan.default_tag)
            if layers:
                layers.prepare([s.installed for s in steps[i:] if s.installed is not None])
            if loads and layers:
                layers.load(step, parent, tag, engine)
            else:
                engine.tag(_build_step(project, context, how, step.installed).id, tag)
            ids.pop(tag, None)
            built_steps += 1
        parent = tag
        if step.name == "base":
            installer = tag
    raise AssertionError("render_chain ends with the final step")


def check_space(steps: Sequence[ChainStep], how: StepBuild, name: str) -> None:
    """Stop before building ``steps`` when the disks cannot hold them: their wheels (and,
    installed on the host, their trees) under podlock's cache, and their layers in the
    engine's storage when that is on this machine: about twice the installed size (the
    tarball a load stores, or the install stage, beside the layer), an estimate."""
    host = how.layers.host if how.layers else None
    wheels = [
        *(w for s in steps if s.installed for w in s.installed.wheels),
        *(f for s in steps for f in s.context.files.values() if isinstance(f, Wheel)),
    ]
    storage = how.engine.storage()
    check_build(
        wheels,
        how.cache,
        host.target if host else None,
        host.compiler_version if host and host.compiler else None,
        blobs=None,
        what=f"the layers of {name}",
        extra={storage: 2 * installed_size(wheels)} if storage else None,
    )


def _build_step(
    project: BuildPlan, context: Context, how: StepBuild, installed: InstalledLayer | None = None
) -> BuiltImage:
    wheels = [s for s in context.files.values() if isinstance(s, Wheel)]
    fetch_all(how.cache, wheels, how.reporter)
    nested = {}
    if installed is not None:
        if how.layers is None:
            raise PodlockError(f"layer {installed.name} is installed on the host, but no host")
        nested[installed.context_path] = how.layers.entries(installed)
    stream = context_stream(
        context, code_root=project.plan.code.root, cache=how.cache, nested=nested
    )
    return how.engine.build(
        stream, network=how.network, reporter=how.reporter, nocache=how.no_cache
    )


def _step_key(images: dict[str, str], context: Context, step: ChainStep, load: bool) -> str:
    """``images``: the refs the step starts from, each with its image ID. A loaded layer
    and an ADDed one hold the same files in different tars: each has its own key."""
    key = hashlib.sha256()
    for ref, image_id in images.items():
        key.update(f"{ref}\0{image_id}\0".encode())
    hash_context(key, context)
    if step.installed is not None:
        how = "load" if load else "add"
        key.update(f"\0installed\0{step.installed.sha256}\0{how}".encode())
    return key.hexdigest()[:24]


def hash_context(digest: hashlib._Hash, context: Context) -> None:
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
