"""One platform's image from a LayerPlan: layer specs, cached layer blobs, config, manifest.

A layer's cache key is everything its bytes depend on (its wheels' hashes, the install
layout, the bytecode compiler, the compressor, the mtime), and nothing else: not the
project, not the base. So the runtime and heavy layers of two projects that lock the same
versions are the same blobs, and a code change rebuilds only the code layer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podlock import __version__
from podlock.atomic import write_entry
from podlock.disk import full_disk
from podlock.errors import PodlockError
from podlock.layers.compress import identity
from podlock.layers.install import Target, venv_entries
from podlock.layers.installed import wheel_entries
from podlock.layers.tarlayer import Entry, LayerBlob, LayerError, file, write_layer
from podlock.paths import cache_dir, mark_used
from podlock.plan.codepackage import CodePackage
from podlock.plan.layerplan import (
    APP,
    BASE_PATH,
    CMD,
    LABEL_PREFIX,
    PODLOCK_DIR,
    Layer,
    LayerPlan,
    Wheel,
)
from podlock.registry.base import BaseImage
from podlock.registry.blobs import BlobStore
from podlock.registry.model import CONFIG, MANIFEST, Descriptor, canonical, oci_platform, rfc3339
from podlock.registry.reference import Reference
from podlock.reporter import Reporter

LAYOUT_VERSION = 1  # bump when the bytes of a layer built from the same inputs change
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What, besides a layer's own inputs, decides its bytes."""

    compression: str
    mtime: int
    compiler: str | None  # the interpreter that compiles .pyc (X.Y of the image), or None
    compiler_version: str


@dataclass(frozen=True, kw_only=True)
class LayerSpec:
    name: str
    kind: str
    key: str  # sha256 of the canonical inputs
    entries: Callable[[], list[Entry]]
    wheels: tuple[Wheel, ...] = ()  # what building it downloads (nothing when it is cached)


@dataclass(frozen=True, kw_only=True)
class PlatformImage:
    platform: str
    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]
    names: tuple[str, ...]  # one per layer: "base", "venv", "runtime", ..., "code"
    mount_from: Reference | None = None  # a repository of the same registry may hold these


def _key(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({"podlock-oci-layout": LAYOUT_VERSION, **parts})).hexdigest()


def layer_specs(
    plan: LayerPlan,
    platform: str,
    target: Target,
    settings: Settings,
    wheel_paths: Mapping[str, Path],
    reporter: Reporter,
) -> list[LayerSpec]:
    """The layers podlock adds on top of the base, in order (empty ones left out)."""
    common = {"compression": identity(settings.compression), "mtime": settings.mtime}
    specs = [
        LayerSpec(
            name="venv",
            kind="venv",
            key=_key(
                {
                    **common,
                    "kind": "venv",
                    "python": target.python,
                    "interpreter": target.interpreter,
                    "venv": target.venv,
                }
            ),
            entries=lambda: venv_entries(target),
        )
    ]
    for layer in plan.wheel_layers:
        wheels = layer.wheels.get(platform, ())
        if not wheels:
            continue
        key = _key(
            {
                **common,
                "kind": "wheels",
                "python": target.python,
                "venv": target.venv,
                "compiler": settings.compiler_version if settings.compiler else None,
                "wheels": sorted(w.sha256 for w in wheels),
            }
        )
        specs.append(
            LayerSpec(
                name=layer.name,
                kind=layer.kind,
                key=key,
                entries=_wheel_entries(layer, wheels, wheel_paths, target, settings, reporter),
                wheels=tuple(wheels),
            )
        )
    code = plan.code
    key = _key(
        {
            **common,
            "kind": "code",
            "lock": [plan.lock_name, plan.lock_text],
            "files": [[f.path, f.sha256, f.executable] for f in code.files],
        }
    )
    specs.append(LayerSpec(name="code", kind="code", key=key, entries=lambda: code_entries(plan)))
    return specs


def _wheel_entries(
    layer: Layer,
    wheels: Sequence[Wheel],
    paths: Mapping[str, Path],
    target: Target,
    settings: Settings,
    reporter: Reporter,
) -> Callable[[], list[Entry]]:
    def make() -> list[Entry]:
        return wheel_entries(
            wheels,
            paths,
            target,
            compiler=settings.compiler,
            compiler_version=settings.compiler_version,
            layer=layer.name,
            reporter=reporter,
        )

    return make


def code_entries(plan: LayerPlan) -> list[Entry]:
    """The code package under /app and the lock under /opt/podlock; every file re-checked:
    a path that leaves the project (``..``, a symlink) is refused."""
    code: CodePackage = plan.code
    root = code.root.resolve()
    out = [file(f"{PODLOCK_DIR.strip('/')}/{plan.lock_name}", plan.lock_text.encode())]
    for f in code.files:
        host = root / f.path
        if (
            f.path.startswith("/")
            or ".." in f.path.split("/")
            or host.is_symlink()
            or not host.resolve().is_relative_to(root)
        ):
            raise LayerError(
                f"code package: {f.path} points outside the project {root}",
                hint="replace the symlink with the file itself, or exclude it (.gitignore)",
            )
        out.append(file(f"{APP.strip('/')}/{f.path}", host, executable=f.executable))
    return out


def memos_root() -> Path:
    """Where each built layer's record (``LayerBlob`` JSON, by layer key) lives."""
    return cache_dir() / "oci" / "layers"


def cached_layer(key: str, store: BlobStore) -> LayerBlob | None:
    """The blob this machine's layer cache holds for ``key`` (its bytes in the store)."""
    memo = memos_root() / f"{key}.json"
    try:
        saved = json.loads(memo.read_text())
        blob = LayerBlob(**saved)
        if store.has(blob.digest) and store.size(blob.digest) == blob.size:
            mark_used(memo)
            return blob
    except (FileNotFoundError, ValueError, TypeError):
        pass
    return None


def build_layer(spec: LayerSpec, store: BlobStore, settings: Settings) -> tuple[LayerBlob, bool]:
    """The spec's blob, from the layer cache when its key is there; (blob, was_cached)."""
    blob = cached_layer(spec.key, store)
    if blob is not None:
        return blob, True
    blob = write_layer(
        spec.entries(), store, compression=settings.compression, mtime=settings.mtime
    )
    remember(spec.key, blob)
    return blob, False


def remember(key: str, blob: LayerBlob) -> None:
    """Record ``key`` → ``blob`` in this machine's layer cache (atomically)."""
    memo = memos_root() / f"{key}.json"
    memo.parent.mkdir(parents=True, exist_ok=True)
    with full_disk(memo.parent):
        write_entry(memo, canonical(blob.__dict__))


def image_documents(
    plan: LayerPlan,
    platform: str,
    base: BaseImage,
    layers: Sequence[tuple[LayerSpec, LayerBlob]],
    store: BlobStore,
    settings: Settings,
) -> PlatformImage:
    """Config and manifest (byte-stable JSON) into the store."""
    config_bytes = canonical(image_config(plan, platform, base, layers, settings))
    config_desc = Descriptor(
        media_type=CONFIG, digest=store.put(config_bytes), size=len(config_bytes)
    )
    descriptors = [
        *base.layers,
        *(
            Descriptor(media_type=blob.media_type, digest=blob.digest, size=blob.size)
            for _, blob in layers
        ),
    ]
    annotations = {"org.opencontainers.image.base.digest": base.digest}
    if base.name:
        annotations["org.opencontainers.image.base.name"] = base.name
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config_desc.to_dict(),
        "layers": [d.to_dict() for d in descriptors],
        "annotations": annotations,
    }
    body = canonical(manifest)
    digest = store.put(body)
    names = ("base",) * len(base.layers) + tuple(spec.name for spec, _ in layers)
    if len(set(d.digest for d in descriptors)) != len(descriptors):
        raise PodlockError(f"{platform}: two layers of the image have the same bytes")
    return PlatformImage(
        platform=platform,
        manifest=Descriptor(
            media_type=MANIFEST, digest=digest, size=len(body), platform=oci_platform(platform)
        ),
        config=config_desc,
        layers=tuple(descriptors),
        names=names,
        mount_from=base.mount_from,
    )


def image_config(
    plan: LayerPlan,
    platform: str,
    base: BaseImage,
    layers: Sequence[tuple[LayerSpec, LayerBlob]],
    settings: Settings,
) -> dict[str, Any]:
    """The image's config: the base's, with the plan's environment, labels and command, and
    a history entry and diff ID per layer."""
    created = rfc3339(settings.mtime)
    base_cfg = dict(base.config)
    inner = dict(base_cfg.get("config") or {})
    env = [e for e in inner.get("Env") or [] if isinstance(e, str)]
    path = next((e.split("=", 1)[1] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
    ours = {k: v.replace(BASE_PATH, path) for k, v in plan.env.items()}
    env = [e for e in env if e.split("=", 1)[0] not in ours] + [f"{k}={v}" for k, v in ours.items()]
    labels = {**(inner.get("Labels") or {}), **image_labels(plan, base, platform)}
    inner.update(Env=env, WorkingDir=APP, Cmd=list(CMD), Labels=dict(sorted(labels.items())))
    history = list(base_cfg.get("history") or [])
    history += [
        {
            "created": created,
            # The layer's name only: cache keys (which hold the host's CPython patch release)
            # never enter image bytes, so the same lock gives the same digest on any machine.
            "created_by": f"podlock {__version__}: {spec.kind} layer {spec.name}",
        }
        for spec, _ in layers
    ]
    return {
        **oci_platform(platform),
        "config": inner,
        "created": created,
        "history": history,
        "rootfs": {
            "type": "layers",
            "diff_ids": [*base.diff_ids, *(blob.diff_id for _, blob in layers)],
        },
    }


def image_labels(plan: LayerPlan, base: BaseImage, platform: str) -> dict[str, str]:
    """The plan's labels, with the base as resolved (never a host path) and the build's."""
    labels = {
        k: v
        for k, v in plan.image_labels("bundled", platform).items()
        if not k.startswith("org.opencontainers.image.base.")
    }
    if base.name:
        labels["org.opencontainers.image.base.name"] = base.name
    labels["org.opencontainers.image.base.digest"] = base.digest
    labels[f"{LABEL_PREFIX}.builder"] = "oci"
    return dict(sorted(labels.items()))
