"""The few files of a base image that decide its system packages, read from its layers.

The layers are merged by ``registry.rootfs`` (whiteouts applied), keeping only
``/etc/os-release`` (or ``/usr/lib/os-release``), ``/var/lib/dpkg/status``, ``/etc/apt/**``
(sources, trusted keys), ``/usr/share/keyrings/**`` and the symlinks at the root
(``/lib -> usr/lib`` on a merged-/usr base, which a layer must follow, never replace). A base
named without a ``docker-archive:``, ``oci-layout:`` or registry form is taken from the local
Docker engine (``docker save``, once per image ID).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from podlock.atomic import file_in_place, write_entry
from podlock.errors import PodlockError
from podlock.paths import cache_dir
from podlock.registry.base import (
    DOCKER_ARCHIVE,
    OCI_LAYOUT,
    BaseImage,
    BaseImageError,
    PlatformMissing,
    open_base,
)
from podlock.registry.blobs import BlobStore
from podlock.registry.model import hex_of
from podlock.registry.rootfs import read_rootfs
from podlock.reporter import Reporter

if TYPE_CHECKING:
    from podlock.engine import Engine

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
    tree = read_rootfs(image, store, keep=_kept, read=_wanted)
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    for path, entry in sorted(tree.items()):
        if _wanted(path) and entry.data is not None:
            files[path] = entry.data
        elif "/" not in path and entry.kind == "symlink":
            links[path] = entry.link.strip("/")
    memo.parent.mkdir(parents=True, exist_ok=True)
    saved = {"files": {k: v.hex() for k, v in files.items()}, "links": links}
    write_entry(memo, json.dumps(saved, sort_keys=True).encode())
    return BaseFiles(name=name, platform=image.platform, files=files, root_links=links)


def _wanted(path: str) -> bool:
    return path in _FILES or path.startswith(_TREES)


def _kept(path: str) -> bool:
    return "/" not in path or _wanted(path)  # the root's entries: its symlinks


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
        raise BaseImageError(
            f"system packages cannot be locked for {platform}: {exc.message}",
            hint=f"narrow the variant's platforms to those {text} has, or use a base "
            f"published for {platform} too",
        ) from None
    except PodlockError as exc:
        raise BaseImageError(
            f"system packages: cannot read the base image {text} ({exc.message})",
            hint="set base-image to a registry image, docker-archive:PATH or oci-layout:PATH, "
            "or one the local Docker engine has",
        ) from None
    return image, base_files(image, store, text)


def _from_engine(ref: str) -> Path | None:
    """``ref`` saved from the local engine (cached by image ID); None when no engine answers
    or it has no image by that name. Any other failure of the engine is an error."""
    from podlock.engine import Engine, EngineUnavailable  # here: the SDK loads only if needed

    try:
        engine = Engine.connect(timeout=30)
    except EngineUnavailable:
        return None  # no engine: not a local base
    try:
        image_id = engine.image_id(ref)
        if image_id is None:
            return None
        out = cache_dir() / "debian" / "engine-bases" / f"{hex_of(image_id)}.docker.tar"
        if not out.is_file():
            _save(engine, image_id, out)
    except PodlockError as exc:
        raise BaseImageError(
            f"system packages: cannot read the base image {ref} from the Docker engine "
            f"({exc.message})",
            hint=exc.hint,
        ) from None
    return out


def _save(engine: Engine, image_id: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with file_in_place(out) as sink:  # a save cut short leaves nothing
        for chunk in engine.save(image_id):
            sink.write(chunk)
