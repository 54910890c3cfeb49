"""The few files of a base image that decide its system packages, read from its layers.

Layers are read in order with whiteouts applied, keeping only: ``/etc/os-release`` (or
``/usr/lib/os-release``), ``/var/lib/dpkg/status``, ``/etc/apt/**`` (sources, trusted keys),
``/usr/share/keyrings/**`` and the symlinks at the root (``/lib -> usr/lib`` on a merged-/usr
base, which a layer must follow, never replace). A base named without a ``docker-archive:``,
``oci-layout:`` or registry form is taken from the local Docker engine (``docker save``, once
per image ID).
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import zstandard

from podlock.errors import PodlockError
from podlock.paths import cache_dir
from podlock.registry.base import DOCKER_ARCHIVE, OCI_LAYOUT, BaseImage, PlatformMissing, open_base
from podlock.registry.blobs import BlobStore
from podlock.registry.model import LAYER_ZSTD, hex_of
from podlock.reporter import Reporter

_FILES = ("etc/os-release", "usr/lib/os-release", "var/lib/dpkg/status")
_TREES = ("etc/apt/", "usr/share/keyrings/")


@dataclass(frozen=True, kw_only=True)
class BaseFiles:
    """What podlock needs of one platform's base: a few files and the root's symlinks."""

    name: str  # the base as the user names it, for messages
    platform: str
    files: Mapping[str, bytes]  # path (no leading /) -> content
    root_links: Mapping[str, str]  # "lib" -> "usr/lib"

    def text(self, path: str) -> str | None:
        data = self.files.get(path)
        return data.decode("utf-8", "replace") if data is not None else None

    @property
    def status(self) -> bytes:
        return self.files.get("var/lib/dpkg/status", b"")

    @property
    def status_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.status).hexdigest()


def base_files(image: BaseImage, store: BlobStore, name: str) -> BaseFiles:
    """Read ``image``'s files. Cost: one decompressing read of every base layer, once per
    base (the answer is cached by the base's layer digests)."""
    key = hashlib.sha256("\0".join(d.digest for d in image.layers).encode()).hexdigest()
    memo = cache_dir() / "debian" / "bases" / f"{key}.json"
    try:
        saved = json.loads(memo.read_text())
        return BaseFiles(
            name=name,
            platform=image.platform,
            files={k: bytes.fromhex(v) for k, v in saved["files"].items()},
            root_links=saved["links"],
        )
    except (FileNotFoundError, ValueError, KeyError):
        pass
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    for layer in image.layers:
        with open(store.path(layer.digest), "rb") as fh:
            stream = (
                zstandard.ZstdDecompressor().stream_reader(fh)
                if layer.media_type == LAYER_ZSTD
                else fh
            )
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                for member in tar:
                    _apply(files, links, tar, member)
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
    tmp.write_text(
        json.dumps(
            {"files": {k: v.hex() for k, v in files.items()}, "links": links}, sort_keys=True
        )
    )
    os.replace(tmp, memo)
    return BaseFiles(name=name, platform=image.platform, files=files, root_links=links)


def _wanted(path: str) -> bool:
    return path in _FILES or path.startswith(_TREES)


def _apply(
    files: dict[str, bytes], links: dict[str, str], tar: tarfile.TarFile, member: tarfile.TarInfo
) -> None:
    path = member.name.removeprefix("./").strip("/")
    head, _, name = path.rpartition("/")
    if name == ".wh..wh..opq":
        for p in [p for p in files if p.startswith(head + "/")]:
            del files[p]
        return
    if name.startswith(".wh."):
        gone = f"{head}/{name[4:]}" if head else name[4:]
        files.pop(gone, None)
        links.pop(gone, None)
        for p in [p for p in files if p.startswith(gone + "/")]:
            del files[p]
        return
    if "/" not in path:
        if member.issym():
            links[path] = member.linkname.strip("/")
        else:
            links.pop(path, None)
    if not _wanted(path):
        return
    if member.isfile():
        fh = tar.extractfile(member)
        files[path] = fh.read() if fh else b""
    elif member.islnk():
        target = member.linkname.removeprefix("./").strip("/")
        if target in files:
            files[path] = files[target]
    else:
        files.pop(path, None)


def open_system_base(
    text: str, platform: str, store: BlobStore, reporter: Reporter
) -> tuple[BaseImage, BaseFiles]:
    """The base named ``text`` for ``platform`` and its files: a plain name the local engine
    has is read from the engine; anything else as the daemonless builder reads bases."""
    source = text
    if not text.startswith((DOCKER_ARCHIVE, OCI_LAYOUT)):
        saved = _from_engine(text)
        if saved is not None:
            source = f"{DOCKER_ARCHIVE}{saved}"
    try:
        image = open_base(source, [platform], store, reporter)[platform]
    except PlatformMissing as exc:
        raise PodlockError(
            f"system packages cannot be locked for {platform}: {exc.message}",
            hint=f"narrow the variant's platforms to those {text} has, or use a base "
            f"published for {platform} too",
        ) from None
    except PodlockError as exc:
        raise PodlockError(
            f"system packages: cannot read the base image {text} ({exc.message})",
            hint="set base-image to a registry image, docker-archive:PATH or oci-layout:PATH, "
            "or one the local Docker engine has",
        ) from None
    return image, base_files(image, store, text)


def _from_engine(ref: str) -> Path | None:
    """``ref`` saved from the local engine (cached by image ID); None without engine or image."""
    from podlock.engine import Engine

    try:
        engine = Engine.connect(timeout=30)
        image = engine.client.images.get(ref)
    except Exception:  # no engine, or it lacks the image: not a local base
        return None
    out = cache_dir() / "debian" / "engine-bases" / f"{hex_of(str(image.id))}.docker.tar"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f".{out.name}.{os.getpid()}")
    with open(part, "wb") as sink:
        for chunk in image.save(named=True):
            sink.write(chunk)
    os.replace(part, out)
    return out
