"""Base images: from a registry, a ``docker save`` tarball or an OCI layout, into the blob store.

Whatever the source, the result is the same: the base's config, its layers as blobs (kept
byte for byte: the digests in our manifest are the base's own) and the digest that pins it.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from podlock.atomic import write_entry
from podlock.errors import PodlockError
from podlock.paths import cache_dir
from podlock.registry.blobs import BlobStore
from podlock.registry.client import Registry
from podlock.registry.model import (
    INDEX_TYPES,
    LAYER_GZIP,
    LAYER_TAR,
    LAYER_ZSTD,
    MANIFEST_TYPES,
    REF_NAME,
    TO_OCI,
    Descriptor,
    canonical,
    digest_of,
    hex_of,
)
from podlock.registry.reference import Reference
from podlock.reporter import Reporter

DOCKER_ARCHIVE = "docker-archive:"
OCI_LAYOUT = "oci-layout:"


class BaseImageError(PodlockError):
    pass


class PlatformMissing(BaseImageError):
    """The base image has no image for a platform the lock targets."""


@dataclass(frozen=True, kw_only=True)
class BaseImage:
    """One platform's base: config, layers (blobs in the store) and how it is pinned."""

    name: str  # for labels: the reference without digest; "" when unnamed
    digest: str  # the manifest digest (registry, layout) or the image ID (docker-archive)
    pinned: str  # what the result records: name@digest
    platform: str
    config: Mapping[str, Any]
    layers: tuple[Descriptor, ...]
    diff_ids: tuple[str, ...]
    mount_from: Reference | None = None  # a registry repository that holds the layers


def open_base(
    text: str, platforms: Sequence[str], store: BlobStore, reporter: Reporter
) -> dict[str, BaseImage]:
    """The base for each platform, its blobs in ``store``. Cost: a download (or copy) of
    every base layer the first time; nothing after that for pinned or local sources."""
    if text.startswith(DOCKER_ARCHIVE):
        return _docker_archive(Path(text.removeprefix(DOCKER_ARCHIVE)), platforms, store)
    if text.startswith(OCI_LAYOUT):
        path, tag = split_layout(text.removeprefix(OCI_LAYOUT))
        return _oci_layout(path, tag, platforms, store)
    return _registry(Reference.parse(text), platforms, store, reporter)


def split_layout(spec: str) -> tuple[Path, str | None]:
    """``PATH[:TAG]`` → (path, tag); a path that exists with a colon in it is taken whole."""
    if ":" in spec and not Path(spec).exists():
        path, tag = spec.rsplit(":", 1)
        return Path(path), tag
    return Path(spec), None


# ------------------------------------------------------------------ registry --
def _registry(
    ref: Reference, platforms: Sequence[str], store: BlobStore, reporter: Reporter
) -> dict[str, BaseImage]:
    registry = Registry(ref)
    try:
        body, media_type = registry.manifest(ref.repository, ref.reference)
    except PodlockError as exc:
        raise BaseImageError(
            f"cannot get base image {ref}: {exc.message}",
            hint="pass --base with a reachable registry image, docker-archive:PATH "
            "(a `docker save` tarball) or oci-layout:PATH[:TAG]",
        ) from None
    top = digest_of(body)
    if ref.digest and top != ref.digest:
        raise BaseImageError(f"{ref.registry} served {top} for {ref}; refusing it")
    store.put(body)
    pinned = str(replace(ref, digest=top))
    name = str(replace(ref, digest=None))
    manifests = _by_platform(json.loads(body), media_type, platforms, str(ref))
    out = {}
    for platform, descriptor in manifests.items():
        if descriptor is None:
            manifest_bytes = body
        else:
            manifest_bytes, _ = registry.manifest(ref.repository, descriptor.digest)
            store.put(manifest_bytes)
        manifest = json.loads(manifest_bytes)
        config_digest = manifest["config"]["digest"]
        registry.fetch_blob(ref.repository, config_digest, store)
        layers = tuple(_oci_descriptor(d) for d in manifest["layers"])
        for layer in layers:
            if not store.has(layer.digest):
                reporter.info(
                    f"base {name}: fetching layer {layer.digest[:19]} ({layer.size / 1e6:.1f} MB)"
                )
            registry.fetch_blob(ref.repository, layer.digest, store)
        out[platform] = _image(
            name, top, pinned, platform, store.read(config_digest), layers, mount_from=ref
        )
    return out


def _by_platform(
    data: Mapping[str, Any], media_type: str, platforms: Sequence[str], what: str
) -> dict[str, Descriptor | None]:
    """platform -> the index entry for it (None when ``data`` is a single manifest)."""
    kind = media_type or str(data.get("mediaType", ""))
    if kind in MANIFEST_TYPES or "config" in data:
        return dict.fromkeys(platforms)
    if kind not in INDEX_TYPES and "manifests" not in data:
        raise BaseImageError(f"{what} is neither an image manifest nor an index ({kind})")
    out: dict[str, Descriptor | None] = {}
    for platform in platforms:
        for entry in data.get("manifests", []):
            if _platform_of(entry) == platform:
                out[platform] = Descriptor.from_dict(entry)
                break
        else:
            have = sorted(_platform_of(e) for e in data.get("manifests", []))
            raise PlatformMissing(
                f"base image {what} has no {platform} image (it has {', '.join(have) or 'none'})",
                hint="pick a base published for every platform of the lock, or pass --platform",
            )
    return out


def _platform_of(entry: Mapping[str, Any]) -> str:
    p = entry.get("platform") or {}
    return f"{p.get('os')}/{p.get('architecture')}"


def _oci_descriptor(data: Mapping[str, Any]) -> Descriptor:
    d = Descriptor.from_dict(data)
    return Descriptor(
        media_type=TO_OCI.get(d.media_type, d.media_type),
        digest=d.digest,
        size=d.size,
        annotations=d.annotations,
    )


def _image(
    name: str,
    digest: str,
    pinned: str,
    platform: str,
    config_bytes: bytes,
    layers: tuple[Descriptor, ...],
    *,
    mount_from: Reference | None = None,
) -> BaseImage:
    config = json.loads(config_bytes)
    arch = f"{config.get('os', 'linux')}/{config.get('architecture', '')}"
    if arch != platform:
        raise PlatformMissing(
            f"base image {name or digest} is {arch}, not {platform}",
            hint="use a base built for the target platform, or pass --platform " + arch,
        )
    diff_ids = tuple(str(d) for d in (config.get("rootfs") or {}).get("diff_ids", []))
    if len(diff_ids) != len(layers):
        raise BaseImageError(f"base image {name or digest}: config and manifest disagree on layers")
    return BaseImage(
        name=name,
        digest=digest,
        pinned=pinned,
        platform=platform,
        config=config,
        layers=layers,
        diff_ids=diff_ids,
        mount_from=mount_from,
    )


# ------------------------------------------------------------ docker-archive --
def _docker_archive(path: Path, platforms: Sequence[str], store: BlobStore) -> dict[str, BaseImage]:
    if not path.is_file():
        raise BaseImageError(
            f"docker-archive:{path}: no such file",
            hint="write one with `docker save -o FILE IMAGE`",
        )
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}".encode())
    memo = cache_dir() / "oci" / "bases" / f"{key.hexdigest()}.json"
    try:
        saved = json.loads(memo.read_text())
        if all(store.has(d["digest"]) for d in saved["layers"]) and store.has(saved["config"]):
            return {p: _from_memo(saved, p, store) for p in platforms}
    except (FileNotFoundError, ValueError, KeyError):
        pass
    try:
        with tarfile.open(path) as tar:
            manifest = json.loads(_member(tar, "manifest.json", path).read())
            if not manifest:
                raise BaseImageError(f"docker-archive:{path} holds no image")
            entry = manifest[0]
            config_bytes = _member(tar, entry["Config"], path).read()
            config_digest = store.put(config_bytes)
            layers = []
            for member in entry["Layers"]:
                with store.writer() as out:
                    fh = _member(tar, member, path)
                    magic = b""
                    while chunk := fh.read(1 << 20):
                        magic = magic or chunk[:4]
                        out.write(chunk)
                layers.append({"digest": out.digest, "size": out.size, "mediaType": _sniff(magic)})
    except (tarfile.TarError, OSError, ValueError, KeyError) as exc:
        raise BaseImageError(
            f"docker-archive:{path} is not a `docker save` tarball ({type(exc).__name__}: {exc})"
        ) from None
    tags = entry.get("RepoTags") or []
    saved = {"name": str(tags[0]) if tags else "", "config": config_digest, "layers": layers}
    memo.parent.mkdir(parents=True, exist_ok=True)
    write_entry(memo, canonical(saved))
    return {p: _from_memo(saved, p, store) for p in platforms}


def _from_memo(saved: Mapping[str, Any], platform: str, store: BlobStore) -> BaseImage:
    layers = tuple(
        Descriptor(media_type=d["mediaType"], digest=d["digest"], size=d["size"])
        for d in saved["layers"]
    )
    name = str(saved["name"])
    image_id = str(saved["config"])
    pinned = f"{name}@{image_id}" if name else image_id
    return _image(name, image_id, pinned, platform, store.read(image_id), layers)


def _member(tar: tarfile.TarFile, name: str, path: Path) -> IO[bytes]:
    fh = tar.extractfile(name)
    if fh is None:
        raise BaseImageError(f"docker-archive:{path}: {name} is missing or not a file")
    return fh


def _sniff(magic: bytes) -> str:
    if magic.startswith(b"\x1f\x8b"):
        return LAYER_GZIP
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        return LAYER_ZSTD
    return LAYER_TAR


# ---------------------------------------------------------------- oci-layout --
def read_layout_index(path: Path, tag: str | None) -> tuple[Descriptor, Mapping[str, Any]]:
    """The descriptor in ``path``'s index.json named ``tag`` (or its only one)."""
    try:
        index = json.loads((path / "index.json").read_text())
    except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
        raise BaseImageError(
            f"oci-layout:{path} is not an OCI image layout ({type(exc).__name__})",
            hint="point at a directory with index.json, e.g. one written by --output-dir",
        ) from None
    entries = index.get("manifests") or []
    named = [e for e in entries if tag is None or (e.get("annotations") or {}).get(REF_NAME) == tag]
    if len(named) != 1:
        names = sorted((e.get("annotations") or {}).get(REF_NAME, "?") for e in entries)
        raise BaseImageError(
            f"oci-layout:{path}"
            + (f":{tag}" if tag else "")
            + f" names {len(named)} images (tags: {', '.join(names) or 'none'})",
            hint="add :TAG to pick one",
        )
    return Descriptor.from_dict(named[0]), index


def copy_layout_blob(path: Path, digest: str, store: BlobStore) -> None:
    if store.has(digest):
        return
    src = path / "blobs" / "sha256" / hex_of(digest)
    try:
        with open(src, "rb") as fh, store.writer(expected=digest) as out:
            while chunk := fh.read(1 << 20):
                out.write(chunk)
    except FileNotFoundError:
        raise BaseImageError(f"oci-layout:{path} lacks blob {digest}") from None


def _oci_layout(
    path: Path, tag: str | None, platforms: Sequence[str], store: BlobStore
) -> dict[str, BaseImage]:
    top, _ = read_layout_index(path, tag)
    copy_layout_blob(path, top.digest, store)
    body = store.read(top.digest)
    name = (top.annotations or {}).get(REF_NAME, "")
    pinned = f"{name}@{top.digest}" if name else top.digest
    out = {}
    for platform, descriptor in _by_platform(
        json.loads(body), top.media_type, platforms, f"oci-layout:{path}"
    ).items():
        digest = descriptor.digest if descriptor else top.digest
        copy_layout_blob(path, digest, store)
        manifest = json.loads(store.read(digest))
        copy_layout_blob(path, manifest["config"]["digest"], store)
        layers = tuple(_oci_descriptor(d) for d in manifest["layers"])
        for layer in layers:
            copy_layout_blob(path, layer.digest, store)
        out[platform] = _image(
            name, top.digest, pinned, platform, store.read(manifest["config"]["digest"]), layers
        )
    return out
