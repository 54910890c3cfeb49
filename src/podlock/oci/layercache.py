"""The registry as the layer cache: layer key → layer blob, recorded in a repository.

Each record is a small OCI artifact tagged ``podlock-layer-<key>`` in the cache repository
(the push target's, or ``--cache-repo``): its one layer descriptor *is* the layer blob
(digest, size, media type), and its annotations hold the key and the diffID. Because the
record references the blob, the registry checks that the blob exists when the record is
written and keeps the blob as long as the record lives.

Writes are atomic: the blob is in the repository first, and the record is one manifest
``PUT`` (the registry commits it whole or not at all). A record is never trusted: it must
parse, name the key it is tagged by, use the layer media type the build would write, and
the registry must hold a blob with exactly the digest and size it names; anything else is
ignored and reported, and the layer is built. The diffID cannot be checked without
downloading the layer; it is checked whenever the layer is downloaded (``materialise``).
Keys never enter image bytes: only this repository's tags and annotations hold them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from podlock.errors import PodlockError
from podlock.layers.tarlayer import LayerBlob
from podlock.registry.artifact import EMPTY, artifact, ensure_small_blob
from podlock.registry.blobs import BlobStore
from podlock.registry.client import Registry
from podlock.registry.errors import RegistryError, Unreachable
from podlock.registry.model import LAYER_GZIP, LAYER_TAR, LAYER_ZSTD, MANIFEST, Descriptor, hex_of
from podlock.registry.reference import Reference
from podlock.reporter import NullReporter, Reporter

ARTIFACT_TYPE = "application/vnd.podlock.layer-cache.v1+json"
TAG_PREFIX = "podlock-layer-"
KEY = "dev.podlock.layer.key"
DIFF_ID = "dev.podlock.layer.diff-id"
LAYER_TYPES = (LAYER_GZIP, LAYER_ZSTD, LAYER_TAR)
WORKERS = 8


def tag_for(key: str) -> str:
    hex_of(f"sha256:{key}")  # a key is a sha256 hex digest; anything else is refused
    return f"{TAG_PREFIX}{key}"


@dataclass
class RemoteLayerCache:
    """Lookups and records in ``ref``'s repository; after a registry failure it is off for
    the rest of the build (the build goes on without it)."""

    ref: Reference
    registry: Registry
    reporter: Reporter = field(default_factory=NullReporter)
    off: bool = False
    ignored: list[str] = field(default_factory=list)  # tags of records that were not trusted
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, ref: Reference, reporter: Reporter | None = None) -> RemoteLayerCache:
        return cls(ref=ref, registry=Registry(ref), reporter=reporter or NullReporter())

    @property
    def repository(self) -> str:
        return self.ref.repository

    def lookup_all(self, wanted: dict[str, str]) -> dict[str, LayerBlob]:
        """``{key: media_type}`` → the trusted records found, by key (in parallel)."""
        keys = list(wanted)
        with ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(keys)))) as pool:
            found = list(pool.map(lambda k: self.lookup(k, wanted[k]), keys))
        return {k: blob for k, blob in zip(keys, found, strict=True) if blob is not None}

    def lookup(self, key: str, media_type: str) -> LayerBlob | None:
        """The layer recorded for ``key``, verified against the registry, or None."""
        if self.off:
            return None
        tag = tag_for(key)
        try:
            if not self.registry.has_manifest(self.repository, tag):
                return None
            body, _ = self.registry.manifest(self.repository, tag)
            blob, why = _parse(body, key, media_type)
            if blob is not None:
                size = self.registry.blob_size(self.repository, blob.digest)
                if size is None:
                    why = f"the registry has no blob {blob.digest[:19]} (stale)"
                elif size != blob.size:
                    why = f"its blob has {size} bytes, the record says {blob.size}"
                if why:
                    blob = None
        except Unreachable as exc:
            self._switch_off(f"looking up {tag}: {exc.message}")
            return None
        except RegistryError as exc:
            blob, why = None, exc.message
        if blob is None:
            self._ignore(tag, why)
        return blob

    def record(
        self,
        key: str,
        blob: LayerBlob,
        store: BlobStore,
        *,
        source: Registry | None = None,
        source_repo: str = "",
    ) -> bool:
        """Record ``key`` → ``blob``; the blob goes into the cache repository first (mounted
        from ``source_repo``, the push target, when on one registry; else uploaded from the
        store). Returns whether the record was written."""
        if self.off:
            return False
        tag = tag_for(key)
        try:
            if not self.registry.has_blob(self.repository, blob.digest):
                self._copy_blob(blob, store, source, source_repo)
            ensure_small_blob(self.registry, self.repository, EMPTY)
            record = artifact(
                ARTIFACT_TYPE,
                [Descriptor(media_type=blob.media_type, digest=blob.digest, size=blob.size)],
                annotations={KEY: key, DIFF_ID: blob.diff_id},
            )
            self.registry.put_manifest(self.repository, tag, record.body, MANIFEST)
        except RegistryError as exc:
            self._switch_off(f"recording {tag}: {exc.message}")
            return False
        return True

    def _copy_blob(
        self, blob: LayerBlob, store: BlobStore, source: Registry | None, source_repo: str
    ) -> None:
        if (
            source is not None
            and source.registry == self.registry.registry
            and source_repo != self.repository
            and self.registry.mount(self.repository, blob.digest, source_repo)
        ):
            return
        if not store.has(blob.digest) and source is not None:
            source.fetch_blob(source_repo, blob.digest, store)
        self.registry.upload(self.repository, blob.digest, store.path(blob.digest), what="layer")

    def _switch_off(self, why: str) -> None:
        with self._lock:
            if self.off:
                return
            self.off = True
        self.reporter.warn(
            f"remote layer cache {self.ref.registry}/{self.repository} is off for this build "
            f"({why}); layers are built and pushed as without it"
        )

    def _ignore(self, tag: str, why: str) -> None:
        with self._lock:
            self.ignored.append(tag)
        self.reporter.warn(
            f"remote layer cache: ignored {self.repository}:{tag} ({why}); building the layer"
        )


def _parse(body: bytes, key: str, media_type: str) -> tuple[LayerBlob | None, str]:
    """A record's layer, or None and why it is not trusted."""
    try:
        data: Any = json.loads(body)
        if not isinstance(data, dict):
            return None, "not a JSON object"
        if data.get("artifactType") != ARTIFACT_TYPE:
            return None, f"not a podlock layer record (artifactType {data.get('artifactType')!r})"
        notes = data.get("annotations") or {}
        if notes.get(KEY) != key:
            return None, "it is the record of another key"
        layers = data.get("layers") or []
        if len(layers) != 1:
            return None, f"it names {len(layers)} layers, not 1"
        layer = Descriptor.from_dict(layers[0])
        hex_of(layer.digest)
        diff_id = str(notes.get(DIFF_ID, ""))
        hex_of(diff_id)
        if layer.media_type != media_type:
            return None, f"its layer is {layer.media_type}, this build writes {media_type}"
        if layer.size <= 0:
            return None, "its layer size is not positive"
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"unreadable record ({type(exc).__name__}: {exc})"
    return (
        LayerBlob(diff_id=diff_id, digest=layer.digest, size=layer.size, media_type=media_type),
        "",
    )


def materialise(blob: LayerBlob, registry: Registry, repository: str, store: BlobStore) -> None:
    """Download a cached layer into the store (verified against its digest), and check its
    diffID: a layer whose uncompressed bytes are not what the record says is refused."""
    registry.fetch_blob(repository, blob.digest, store)
    got = blob.digest if blob.media_type == LAYER_TAR else _diff_id(store, blob)
    if got != blob.diff_id:
        store.path(blob.digest).unlink(missing_ok=True)
        raise PodlockError(
            f"the cached layer {blob.digest[:19]} in {repository} has diffID {got[:19]}, its "
            f"record says {blob.diff_id[:19]}",
            hint="the remote layer cache is corrupt: build with --no-remote-cache, or delete "
            f"the {TAG_PREFIX}* tags of {repository}",
        )


def _diff_id(store: BlobStore, blob: LayerBlob) -> str:
    sha = hashlib.sha256()
    with open(store.path(blob.digest), "rb") as fh:
        reader: Any
        if blob.media_type == LAYER_ZSTD:
            import zstandard

            reader = zstandard.ZstdDecompressor().stream_reader(fh)
        else:
            reader = gzip.GzipFile(fileobj=fh, mode="rb")  # every member, as the engine reads
        with reader:
            while chunk := reader.read(1 << 20):
                sha.update(chunk)
    return "sha256:" + sha.hexdigest()
