"""OCI media types, descriptors and byte-stable JSON: the vocabulary every other module shares."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from podlock.canonical import canonical as canonical  # re-exported: the registry's JSON form

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
# Docker's media types name the same bytes as OCI's; images podlock writes use OCI's only.
TO_OCI = {
    DOCKER_MANIFEST: MANIFEST,
    DOCKER_LIST: INDEX,
    DOCKER_CONFIG: CONFIG,
    DOCKER_LAYER_GZIP: LAYER_GZIP,
    DOCKER_LAYER_TAR: LAYER_TAR,
}
MANIFEST_TYPES = (MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (INDEX, DOCKER_LIST)
REF_NAME = "org.opencontainers.image.ref.name"  # a tag, on an OCI layout's index.json entry

# 1980-01-01T00:00:00Z: the oldest time a zip (and so a wheel) can hold; used when
# SOURCE_DATE_EPOCH is unset, so every file and the config have one fixed time.
DEFAULT_EPOCH = 315532800


@dataclass(frozen=True, kw_only=True)
class Descriptor:
    """A content descriptor: what a manifest or index says about one blob."""

    media_type: str
    digest: str
    size: int
    platform: Mapping[str, str] | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.platform:
            out["platform"] = dict(self.platform)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Descriptor:
        platform = data.get("platform")
        return cls(
            media_type=str(data.get("mediaType", "")),
            digest=str(data["digest"]),
            size=int(data["size"]),
            platform={str(k): str(v) for k, v in platform.items()} if platform else None,
            annotations={str(k): str(v) for k, v in (data.get("annotations") or {}).items()},
        )


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hex_of(digest: str) -> str:
    """The hex part of ``sha256:...``; anything else is refused (it becomes a file name)."""
    algo, _, hexdigest = digest.partition(":")
    if (
        algo != "sha256"
        or len(hexdigest) != 64
        or not all(c in "0123456789abcdef" for c in hexdigest)
    ):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return hexdigest


def source_epoch() -> int:
    """``SOURCE_DATE_EPOCH`` when set (reproducible-builds.org), else DEFAULT_EPOCH."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(value) if value.isdigit() else DEFAULT_EPOCH


def rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def oci_platform(platform: str) -> dict[str, str]:
    """``linux/arm64`` → ``{"architecture": "arm64", "os": "linux", "variant": "v8"}``."""
    os_, _, arch = platform.partition("/")
    out = {"architecture": arch, "os": os_}
    if arch == "arm64":
        out["variant"] = "v8"
    return out
