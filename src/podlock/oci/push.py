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
from dataclasses import dataclass
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
    remote = remote or {}
    reporter = reporter or NullReporter()
    registry = registry or Registry(ref)
    repo = ref.repository
    todo: dict[str, tuple[str, Reference | None]] = {}
    for image in built.images:
        for name, d in zip((*image.names, "config"), (*image.layers, image.config), strict=True):
            todo.setdefault(d.digest, (f"{image.platform} {name}", image.mount_from))
    lock = threading.Lock()
    uploaded: list[str] = []
    counts = {"bytes": 0, "mounted": 0, "skipped": 0}

    def one(item: tuple[str, tuple[str, Reference | None]]) -> None:
        digest, (what, source) = item
        if registry.has_blob(repo, digest):
            with lock:
                counts["skipped"] += 1
            return
        if (
            source is not None
            and source.registry == ref.registry
            and source.repository != repo
            and registry.mount(repo, digest, source.repository)
        ):
            with lock:
                counts["mounted"] += 1
            reporter.info(f"mounted {what} ({digest[:19]}) from {source.repository}")
            return
        holder, holder_repo = remote.get(digest, (None, ""))
        if (
            holder is not None
            and holder.registry == ref.registry
            and holder_repo != repo
            and registry.mount(repo, digest, holder_repo)
        ):
            with lock:
                counts["mounted"] += 1
            reporter.info(f"mounted {what} ({digest[:19]}) from {holder_repo}")
            return
        if holder is not None and not store.has(digest):
            holder.fetch_blob(holder_repo, digest, store)
        size = store.size(digest)
        task = reporter.task(f"uploading {what} ({digest[:19]})", total=size, unit="bytes")
        registry.upload(repo, digest, store.path(digest), what=what)
        task.advance(size)
        task.done()
        with lock:
            uploaded.append(digest)
            counts["bytes"] += size

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for _ in pool.map(one, todo.items()):
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
        f"pushed {pushed}: {len(uploaded)} blobs uploaded ({counts['bytes'] / 1e6:.1f} MB), "
        f"{counts['mounted']} mounted, {counts['skipped']} already there"
    )
    return PushResult(
        ref=pushed,
        uploaded=tuple(sorted(uploaded)),
        uploaded_bytes=counts["bytes"],
        mounted=counts["mounted"],
        skipped=counts["skipped"],
    )


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
