"""``plan(lock, variant, code) -> LayerPlan``: what goes in which image layer, renderer-neutral.

Layers run from most to least stable, so that a change rebuilds only what comes after it:
base image, system packages, the runtime (hardware-matched, shared across projects), heavy
wheels (one layer each), the remaining wheels, the code package, config. Both the Dockerfile
renderer and the daemonless OCI writer consume the same plan. Pure: no disk, no network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from packaging.pylock import PackageWheel
from packaging.utils import canonicalize_name

from podlock import __version__
from podlock.errors import PodlockError
from podlock.inputs.config import VariantConfig
from podlock.lock.pylock import LoadedLock
from podlock.lock.system import SystemLock
from podlock.plan.codepackage import CodePackage
from podlock.platforms import Platform

LayerKind = Literal["base", "system", "runtime", "heavy", "deps", "code", "config"]
ImageMode = Literal["bundled", "prebuilt"]  # wheels in the image, or installed at start

HEAVY_BYTES = 10 * 1024 * 1024
VENV = "/opt/venv"
APP = "/app"
PODLOCK_DIR = "/opt/podlock"
LABEL_PREFIX = "dev.podlock"
BASE_PATH = "$PATH"  # in ENV: the base image's PATH
CMD = ("python",)
REQUIREMENTS = f"{PODLOCK_DIR}/requirements.txt"  # prebuilt mode: every wheel of the platform


@dataclass(frozen=True, kw_only=True)
class Wheel:
    """One locked wheel, exactly as the lock names it."""

    package: str
    version: str
    filename: str
    url: str
    sha256: str
    size: int


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One image layer; ``wheels`` maps each target platform to that layer's wheels."""

    kind: LayerKind
    name: str
    wheels: Mapping[str, tuple[Wheel, ...]] = field(default_factory=dict)
    packages: tuple[str, ...] = ()  # system (apt) packages, for kind="system"


@dataclass(frozen=True, kw_only=True)
class LayerPlan:
    """Everything a renderer needs to produce the image; nothing it has to look up."""

    project: str
    variant: str
    accelerator: str
    python: str
    platforms: tuple[str, ...]
    base_image: str
    lock_name: str
    lock_text: str
    fingerprint: str
    layers: tuple[Layer, ...]
    code: CodePackage
    labels: Mapping[str, str]
    system: SystemLock | None = None  # the locked .debs of the system layer, if any

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def wheel_layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.kind in ("runtime", "heavy", "deps"))

    @property
    def system_packages(self) -> tuple[str, ...]:
        return tuple(p for layer in self.layers if layer.kind == "system" for p in layer.packages)

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint.removeprefix("sha256:")[:12]

    @property
    def default_tag(self) -> str:
        return f"{self.project}:{self.variant}-{self.short_fingerprint}"

    @property
    def env(self) -> dict[str, str]:
        """The image's environment, in order; ``BASE_PATH`` stands for the base's PATH."""
        return {
            "VIRTUAL_ENV": VENV,
            "PATH": f"{VENV}/bin:{BASE_PATH}",
            "PYTHONUNBUFFERED": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }

    def image_labels(self, mode: ImageMode, platform: str) -> dict[str, str]:
        """The image's labels (sorted): the plan's, with the build's mode and platform."""
        labels = {
            **self.labels,
            f"{LABEL_PREFIX}.mode": mode,
            f"{LABEL_PREFIX}.platform": platform,
        }
        return dict(sorted(labels.items()))

    @staticmethod
    def entrypoint(mode: ImageMode) -> tuple[str, ...]:
        """The image's entrypoint: none in bundled mode; in prebuilt mode the script that
        installs the locked wheels the runtime base lacks, then runs the command."""
        if mode == "bundled":
            return ()
        return (f"{VENV}/bin/python", f"{PODLOCK_DIR}/prebuilt.py", REQUIREMENTS, "--")

    def require_platform(self, platform: str) -> None:
        """Raise unless the lock covers ``platform``."""
        if platform not in self.platforms:
            raise PodlockError(
                f"{self.lock_name} has no {platform} (it has {', '.join(self.platforms)})",
                hint=f"add {platform} to [variants.{self.variant}] platforms and run "
                "`podlock lock`",
            )


def plan(
    lock: LoadedLock,
    variant: VariantConfig,
    code: CodePackage,
    *,
    base_image: str | None = None,
    heavy_bytes: int = HEAVY_BYTES,
    project: str | None = None,
    lock_text: str | None = None,
) -> LayerPlan:
    """Split ``lock`` into layers for each of its platforms. Pure (``lock_text``, the lock
    file's text for the image, defaults to the file as read)."""
    meta = lock.meta
    if meta.variant != variant.name:
        raise PodlockError(
            f"{lock.path.name} is a lock for variant {meta.variant!r}, not {variant.name!r}",
            hint="run `podlock lock`",
        )
    base = base_image or meta.base_image or variant.base_image
    if not base:
        raise PodlockError(
            f"variant {variant.name!r} has no base image",
            hint=f"set base-image in [variants.{variant.name}] or pass --base IMAGE",
        )
    runtime_names = {canonicalize_name(n) for n in meta.runtime_packages} | _tagged_runtime(lock)
    selected = {p: _select(lock, Platform.parse(p)) for p in meta.platforms}
    layers: list[Layer] = [Layer(kind="base", name="base")]
    system = tuple(sorted(dict.fromkeys(meta.system_packages)))
    if system:
        layers.append(Layer(kind="system", name="system", packages=system))
    layers += _wheel_layers(selected, runtime_names, heavy_bytes)
    layers.append(Layer(kind="code", name="code"))
    layers.append(Layer(kind="config", name="config"))
    name = project or code.name
    return LayerPlan(
        project=name,
        variant=meta.variant,
        accelerator=meta.accelerator,
        python=meta.python,
        platforms=meta.platforms,
        base_image=base,
        lock_name=lock.path.name,
        lock_text=lock_text if lock_text is not None else lock.text,
        fingerprint=meta.fingerprint,
        layers=tuple(layers),
        code=code,
        labels=_labels(name, meta.variant, meta.fingerprint, base, code),
        system=SystemLock.from_dict(meta.system) if system and meta.system else None,
    )


def _select(lock: LoadedLock, platform: Platform) -> list[Wheel]:
    python = lock.meta.python
    chosen = lock.select(platform, hint="run `podlock lock`")
    out: list[Wheel] = []
    for package, artifact in chosen:
        if not isinstance(artifact, PackageWheel):
            raise PodlockError(
                f"{package.name} has no wheel for {platform} (CPython {python}) in "
                f"{lock.path.name}; podlock builds images from wheels only",
                hint="pin a version of it that publishes wheels for this platform",
            )
        sha = artifact.hashes.get("sha256")
        if sha is None or artifact.url is None or artifact.size is None or package.version is None:
            raise PodlockError(
                f"{package.name}: the lock lacks the url, size, version or sha256 of "
                f"{artifact.name}",
                hint="run `podlock lock`",
            )
        out.append(
            Wheel(
                package=canonicalize_name(package.name),
                version=str(package.version),
                filename=artifact.filename,
                url=artifact.url,
                sha256=sha,
                size=artifact.size,
            )
        )
    return sorted(out, key=lambda w: w.package)


def _wheel_layers(
    selected: Mapping[str, list[Wheel]], runtime_names: set[str], heavy_bytes: int
) -> list[Layer]:
    """The runtime, heavy and deps layers of the wheels ``selected`` for each platform."""
    groups: dict[tuple[LayerKind, str], dict[str, list[Wheel]]] = {}
    heavy: set[str] = set()
    for wheels in selected.values():
        heavy |= {w.package for w in wheels if w.size > heavy_bytes}
    for platform, wheels in selected.items():
        for wheel in wheels:
            key: tuple[LayerKind, str]
            if wheel.package in runtime_names:
                own = wheel.package in heavy
                key = ("runtime", f"runtime-{wheel.package}" if own else "runtime")
            elif wheel.package in heavy:
                key = ("heavy", f"heavy-{wheel.package}")
            else:
                key = ("deps", "deps")
            groups.setdefault(key, {}).setdefault(platform, []).append(wheel)
    order: dict[LayerKind, int] = {"runtime": 0, "heavy": 1, "deps": 2}
    # Within a kind, a package's own layer comes before the shared one, then by name: a
    # stable order, so adding a small dependency never moves a heavy layer.
    keys = sorted(groups, key=lambda k: (order[k[0]], k[1] in ("runtime", "deps"), k[1]))
    layers = []
    for key in keys:
        per_platform = {
            p: tuple(sorted(ws, key=lambda w: w.package)) for p, ws in sorted(groups[key].items())
        }
        layers.append(Layer(kind=key[0], name=key[1], wheels=per_platform))
    return layers


def _tagged_runtime(lock: LoadedLock) -> set[str]:
    """The packages the lock puts in the runtime layer (``[packages.tool.podlock] layer``)."""
    out: set[str] = set()
    for package in lock.pylock.packages:
        tool = (package.tool or {}).get("podlock", {})
        if isinstance(tool, Mapping) and tool.get("layer") == "runtime":
            out.add(canonicalize_name(package.name))
    return out


def _labels(
    project: str, variant: str, fingerprint: str, base: str, code: CodePackage
) -> dict[str, str]:
    labels = {
        "org.opencontainers.image.title": project,
        "org.opencontainers.image.description": f"{project}, variant {variant}, built by podlock",
        "org.opencontainers.image.base.name": base.split("@", 1)[0],
        f"{LABEL_PREFIX}.variant": variant,
        f"{LABEL_PREFIX}.lock-fingerprint": fingerprint,
        f"{LABEL_PREFIX}.version": __version__,
    }
    if "@" in base:
        labels["org.opencontainers.image.base.digest"] = base.split("@", 1)[1]
    if code.revision:
        labels["org.opencontainers.image.revision"] = code.revision
    return dict(sorted(labels.items()))
