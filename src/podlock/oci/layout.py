"""Outputs of a build: an OCI image layout directory, a ``docker load``-able tarball, an index.

The tarball is both at once (as ``docker save`` writes it since Docker 25): an OCI layout
plus Docker's ``manifest.json`` naming the same blobs, so ``docker load`` (any version),
``skopeo`` (``oci-archive:``) and ``umoci`` read it. Written deterministically, atomically.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podlock.atomic import file_in_place, write_entry
from podlock.layers.tarlayer import Entry, directory, file, normalised, write_tar
from podlock.oci.image import PlatformImage
from podlock.registry.blobs import BlobStore
from podlock.registry.model import INDEX, REF_NAME, Descriptor, canonical, hex_of

LAYOUT = canonical({"imageLayoutVersion": "1.0.0"})


@dataclass(frozen=True, kw_only=True)
class Built:
    """What a build made: per-platform images and the top descriptor (manifest or index)."""

    top: Descriptor
    images: tuple[PlatformImage, ...]

    @property
    def digest(self) -> str:
        return self.top.digest

    def blobs(self) -> list[str]:
        """Every digest the image needs, each once, layers first and the top last."""
        seen: dict[str, None] = {}
        for image in self.images:
            for d in (*image.layers, image.config, image.manifest):
                seen.setdefault(d.digest)
        seen.setdefault(self.top.digest)
        return list(seen)


def finish(images: Sequence[PlatformImage], store: BlobStore) -> Built:
    """One image: its manifest is the top. Several: an OCI image index over them."""
    if len(images) == 1:
        image = images[0]
        top = Descriptor(
            media_type=image.manifest.media_type,
            digest=image.manifest.digest,
            size=image.manifest.size,
        )
        return Built(top=top, images=tuple(images))
    body = canonical(
        {
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": [i.manifest.to_dict() for i in images],
        }
    )
    return Built(
        top=Descriptor(media_type=INDEX, digest=store.put(body), size=len(body)),
        images=tuple(images),
    )


def _index(built: Built, tag: str | None) -> dict[str, Any]:
    top = built.top
    if tag:
        top = Descriptor(
            media_type=top.media_type, digest=top.digest, size=top.size, annotations={REF_NAME: tag}
        )
    return {"schemaVersion": 2, "mediaType": INDEX, "manifests": [top.to_dict()]}


def write_layout(built: Built, out: Path, store: BlobStore, *, tag: str | None) -> None:
    """An OCI image layout at ``out``; blobs already there are kept, index.json is replaced
    (other tags in it are kept) last and atomically."""
    for digest in built.blobs():
        store.copy_into(digest, out / "blobs" / "sha256" / hex_of(digest))
    (out / "oci-layout").write_bytes(LAYOUT)
    index_path = out / "index.json"
    others = []
    try:
        old = json.loads(index_path.read_text())
        others = [
            m
            for m in old.get("manifests", [])
            if tag and (m.get("annotations") or {}).get(REF_NAME) not in (tag, None)
        ]
    except (FileNotFoundError, ValueError):
        pass
    index = _index(built, tag)
    index["manifests"] = others + index["manifests"]
    write_entry(index_path, canonical(index))


def write_docker_tar(
    built: Built, out: Path, store: BlobStore, *, tag: str | None, mtime: int
) -> None:
    """A tarball for ``docker load`` (tagged ``tag``) that is also an OCI layout."""
    entries: list[Entry] = [directory("blobs"), directory("blobs/sha256")]
    for digest in built.blobs():
        entries.append(file(f"blobs/sha256/{hex_of(digest)}", store.path(digest)))
    docker = []
    for n, image in enumerate(built.images):
        docker.append(
            {
                "Config": f"blobs/sha256/{hex_of(image.config.digest)}",
                "RepoTags": [tag] if tag and n == 0 else [],
                "Layers": [f"blobs/sha256/{hex_of(d.digest)}" for d in image.layers],
            }
        )
    entries += [
        file("oci-layout", LAYOUT),
        file("index.json", canonical(_index(built, tag))),
        file("manifest.json", canonical(docker)),
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    with file_in_place(out) as fh:
        write_tar(normalised(entries), fh.write, mtime=mtime)


def load(tarball: Path) -> str:
    """``docker load`` the tarball into the reachable engine; returns what it reported."""
    from podlock.engine import Engine

    with open(tarball, "rb") as fh:
        return "; ".join(Engine.connect().load(fh))
