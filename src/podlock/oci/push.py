"""Push a built image (or an OCI layout) to a registry: only what it lacks, manifest last.

Each blob is checked with ``HEAD`` first; a base layer the registry has in another
repository is mounted rather than uploaded; the rest is uploaded in chunks (resuming after
failures). Manifests go last, so a tag never points at an image with missing blobs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from podlock.oci.image import PlatformImage
from podlock.oci.layout import Built
from podlock.registry.base import copy_layout_blob, read_layout_index
from podlock.registry.blobs import BlobStore
from podlock.registry.client import Registry
from podlock.registry.model import INDEX_TYPES, MANIFEST, Descriptor
from podlock.registry.reference import Reference
from podlock.reporter import NullReporter, Reporter

WORKERS = 4


@dataclass(frozen=True, kw_only=True)
class PushResult:
    ref: str  # REPOSITORY@sha256:...
    uploaded: tuple[str, ...]  # digests uploaded
    uploaded_bytes: int
    mounted: int
    skipped: int


def push(
    built: Built,
    ref: Reference,
    store: BlobStore,
    *,
    reporter: Reporter | None = None,
    registry: Registry | None = None,
    remote: Mapping[str, tuple[Registry, str]] | None = None,
) -> PushResult:
    """Push ``built`` as ``ref``; returns ``registry/repo@digest`` and what was sent.
    ``remote``: digest → (registry, repository) holding a blob the store may lack (a layer
    from the remote layer cache): mounted from there, or downloaded and uploaded."""
    reporter = reporter or NullReporter()
    registry = registry or Registry(ref)
    repo = ref.repository
    todo: dict[str, tuple[str, Reference | None]] = {}
    for image in built.images:
        for name, d in zip((*image.names, "config"), (*image.layers, image.config), strict=True):
            todo.setdefault(d.digest, (f"{image.platform} {name}", image.mount_from))
    blobs = _BlobPush(
        ref=ref, registry=registry, store=store, remote=remote or {}, reporter=reporter
    )
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for _ in pool.map(blobs.one, todo.items()):
            pass
    if len(built.images) > 1:
        for image in built.images:
            registry.put_manifest(
                repo,
                image.manifest.digest,
                store.read(image.manifest.digest),
                image.manifest.media_type,
            )
    registry.put_manifest(
        repo, ref.tag or built.digest, store.read(built.digest), built.top.media_type
    )
    pushed = f"{ref.name}@{built.digest}"
    reporter.info(
        f"pushed {pushed}: {len(blobs.uploaded)} blobs uploaded "
        f"({blobs.uploaded_bytes / 1e6:.1f} MB), "
        f"{blobs.mounted} mounted, {blobs.skipped} already there"
    )
    return PushResult(
        ref=pushed,
        uploaded=tuple(sorted(blobs.uploaded)),
        uploaded_bytes=blobs.uploaded_bytes,
        mounted=blobs.mounted,
        skipped=blobs.skipped,
    )


@dataclass(kw_only=True)
class _BlobPush:
    """Each blob of one push, from worker threads: skipped when the repository has it,
    mounted when a repository of the same registry does, else uploaded."""

    ref: Reference
    registry: Registry
    store: BlobStore
    remote: Mapping[str, tuple[Registry, str]]
    reporter: Reporter
    uploaded: list[str] = field(default_factory=list)
    uploaded_bytes: int = 0
    mounted: int = 0
    skipped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def one(self, item: tuple[str, tuple[str, Reference | None]]) -> None:
        digest, (what, source) = item
        repo = self.ref.repository
        if self.registry.has_blob(repo, digest):
            with self.lock:
                self.skipped += 1
            return
        if source is not None and self._mount(digest, what, source.registry, source.repository):
            return
        holder, holder_repo = self.remote.get(digest, (None, ""))
        if holder is not None and self._mount(digest, what, holder.registry, holder_repo):
            return
        if holder is not None and not self.store.has(digest):
            holder.fetch_blob(holder_repo, digest, self.store)
        size = self.store.size(digest)
        task = self.reporter.task(f"uploading {what} ({digest[:19]})", total=size, unit="bytes")
        self.registry.upload(repo, digest, self.store.path(digest), what=what)
        task.advance(size)
        task.done()
        with self.lock:
            self.uploaded.append(digest)
            self.uploaded_bytes += size

    def _mount(self, digest: str, what: str, registry: str, repository: str) -> bool:
        """Mount ``digest`` from ``repository`` when it is another one of this registry."""
        repo = self.ref.repository
        if (
            registry != self.ref.registry
            or repository == repo
            or not self.registry.mount(repo, digest, repository)
        ):
            return False
        with self.lock:
            self.mounted += 1
        self.reporter.info(f"mounted {what} ({digest[:19]}) from {repository}")
        return True


def from_layout(path: Path, tag: str | None, store: BlobStore) -> Built:
    """A Built read back from an OCI layout (e.g. one --output-dir wrote), blobs into store."""
    top, _ = read_layout_index(path, tag)
    copy_layout_blob(path, top.digest, store)
    body = json.loads(store.read(top.digest))
    if top.media_type in INDEX_TYPES or "manifests" in body:
        entries = [Descriptor.from_dict(m) for m in body["manifests"]]
    else:
        entries = [Descriptor(media_type=MANIFEST, digest=top.digest, size=top.size)]
    images = []
    for entry in entries:
        copy_layout_blob(path, entry.digest, store)
        manifest = json.loads(store.read(entry.digest))
        config = Descriptor.from_dict(manifest["config"])
        layers = tuple(Descriptor.from_dict(d) for d in manifest["layers"])
        for d in (config, *layers):
            copy_layout_blob(path, d.digest, store)
        platform = entry.platform or {}
        images.append(
            PlatformImage(
                platform=f"{platform.get('os', 'linux')}/{platform.get('architecture', '?')}",
                manifest=entry,
                config=config,
                layers=layers,
                names=tuple(f"layer {n}" for n in range(len(layers))),
            )
        )
    clean_top = Descriptor(media_type=top.media_type, digest=top.digest, size=top.size)
    return Built(top=clean_top, images=tuple(images))
