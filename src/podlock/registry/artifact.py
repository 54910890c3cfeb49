"""OCI 1.1 artifacts: a manifest with an ``artifactType``, the empty config and a few small
blobs, optionally about a ``subject`` (the manifest it refers to). The layer cache's
records and the SBOM referrer are artifacts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from podlock.registry.client import Registry
from podlock.registry.model import MANIFEST, Descriptor, canonical, digest_of

EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
EMPTY_DESCRIPTOR = Descriptor(media_type=EMPTY_TYPE, digest=digest_of(EMPTY), size=len(EMPTY))


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """An artifact manifest's bytes, digest and descriptor (with its artifactType)."""

    body: bytes
    digest: str
    artifact_type: str
    annotations: Mapping[str, str]

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(
            media_type=MANIFEST,
            digest=self.digest,
            size=len(self.body),
            annotations=self.annotations,
        )


def artifact(
    artifact_type: str,
    layers: Sequence[Descriptor],
    *,
    subject: Descriptor | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Artifact:
    """The manifest (byte-stable JSON) of an artifact holding ``layers``."""
    manifest: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": artifact_type,
        "config": EMPTY_DESCRIPTOR.to_dict(),
        "layers": [d.to_dict() for d in layers] or [EMPTY_DESCRIPTOR.to_dict()],
    }
    if subject is not None:
        manifest["subject"] = Descriptor(
            media_type=subject.media_type, digest=subject.digest, size=subject.size
        ).to_dict()
    if annotations:
        manifest["annotations"] = dict(sorted(annotations.items()))
    body = canonical(manifest)
    return Artifact(
        body=body,
        digest=digest_of(body),
        artifact_type=artifact_type,
        annotations=dict(annotations or {}),
    )


def ensure_small_blob(registry: Registry, repository: str, data: bytes) -> str:
    """Upload ``data`` unless the repository has it; returns its digest."""
    digest = digest_of(data)
    if not registry.has_blob(repository, digest):
        registry.upload_bytes(repository, digest, data)
    return digest
