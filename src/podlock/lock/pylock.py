"""The lock: PEP 751 ``pylock.<variant>.toml`` with podlock's ``[tool.podlock]`` table.

Writing is deterministic (sorted packages and keys, no timestamps but the index's) and
atomic (``podlock.atomic``). Reading validates with ``packaging.pylock`` so a corrupt lock is
reported, never half-used.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import tomli_w
from packaging.pylock import (
    Package,
    PackageArchive,
    PackageDirectory,
    PackageSdist,
    PackageVcs,
    PackageWheel,
    Pylock,
    PylockSelectError,
    PylockValidationError,
)

from podlock.errors import LockError, PodlockError
from podlock.platforms import Platform
from podlock.urls import filename_of

CREATED_BY = "podlock"

# One package of a lock and the file of it chosen for a platform (``LoadedLock.select``).
Selected = tuple[
    Package, PackageVcs | PackageDirectory | PackageArchive | PackageWheel | PackageSdist
]


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """A wheel, sdist or archive: where it is, how big, and its sha256."""

    url: str | None = None
    path: str | None = None
    size: int
    sha256: str
    upload_time: datetime | None = None

    @property
    def filename(self) -> str:
        return filename_of(self.url, self.path)

    def to_dict(self, *, named: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if named:
            out["name"] = self.filename
        if self.upload_time is not None:
            out["upload-time"] = self.upload_time
        if self.url is not None:
            out["url"] = self.url
        if self.path is not None:
            out["path"] = self.path
        out["size"] = self.size
        out["hashes"] = {"sha256": self.sha256}
        return out


@dataclass(frozen=True, kw_only=True)
class LockedPackage:
    """One ``[[packages]]`` entry."""

    name: str
    version: str | None
    marker: str | None = None
    index: str | None = None
    wheels: tuple[Artifact, ...] = ()
    sdist: Artifact | None = None
    archive: Artifact | None = None
    vcs: Mapping[str, str] | None = None
    layer: str | None = None
    # platform ("linux/amd64") -> the extras asked of the package there, where any are
    extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.version is not None:
            out["version"] = self.version
        if self.marker:
            out["marker"] = self.marker
        if self.index:
            out["index"] = self.index
        if self.vcs is not None:
            out["vcs"] = dict(self.vcs)
        if self.archive is not None:
            out["archive"] = self.archive.to_dict(named=False)
        if self.sdist is not None:
            out["sdist"] = self.sdist.to_dict(named=True)
        if self.wheels:
            out["wheels"] = [w.to_dict(named=True) for w in self.wheels]
        tool: dict[str, Any] = {}
        if self.layer:
            tool["layer"] = self.layer
        if self.extras:
            tool["extras"] = {k: list(v) for k, v in sorted(self.extras.items())}
        if tool:
            out["tool"] = {"podlock": tool}
        return out


@dataclass(frozen=True, kw_only=True)
class LockMeta:
    """``[tool.podlock]``: what the lock was made for and from."""

    variant: str
    accelerator: str
    python: str
    platforms: tuple[str, ...]
    fingerprint: str
    runtime: tuple[str, ...] = ()
    runtime_packages: tuple[str, ...] = ()
    stripped: tuple[Mapping[str, Any], ...] = ()
    kept: tuple[Mapping[str, Any], ...] = ()
    indexes: tuple[str, ...] = ()
    system_packages: tuple[str, ...] = ()
    base_image: str | None = None
    source: str = ""
    # The locked .debs of the system packages (podlock.lock.system.SystemLock.to_dict()).
    system: Mapping[str, Any] = field(default_factory=dict)
    # What the fingerprint covers, input by input (python, files, config keys), so that
    # `lock --check` can name what changed.
    inputs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "variant": self.variant,
            "accelerator": self.accelerator,
            "python": self.python,
            "platforms": list(self.platforms),
            "fingerprint": self.fingerprint,
            "source": self.source,
            "runtime": list(self.runtime),
            "runtime-packages": list(self.runtime_packages),
            "stripped": [dict(s) for s in self.stripped],
            "kept": [dict(k) for k in self.kept],
            "indexes": list(self.indexes),
            "system-packages": list(self.system_packages),
        }
        if self.base_image:
            out["base-image"] = self.base_image
        if self.inputs:
            out["inputs"] = dict(self.inputs)
        if self.system:
            out["system"] = dict(self.system)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LockMeta:
        def strs(key: str) -> tuple[str, ...]:
            value = d.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"tool.podlock.{key} must be a list of strings")
            return tuple(value)

        for key in ("variant", "accelerator", "python", "fingerprint"):
            if not isinstance(d.get(key), str):
                raise ValueError(f"tool.podlock.{key} is missing or not a string")
        inputs = d.get("inputs", {})
        if not isinstance(inputs, dict):
            raise ValueError("tool.podlock.inputs must be a table")
        return cls(
            variant=d["variant"],
            accelerator=d["accelerator"],
            python=d["python"],
            platforms=strs("platforms"),
            fingerprint=d["fingerprint"],
            source=str(d.get("source", "")),
            runtime=strs("runtime"),
            runtime_packages=strs("runtime-packages"),
            stripped=tuple(d.get("stripped", [])),
            kept=tuple(d.get("kept", [])),
            indexes=strs("indexes"),
            system_packages=strs("system-packages"),
            base_image=d.get("base-image"),
            inputs=inputs,
            system=d.get("system") or {},
        )


@dataclass(frozen=True, kw_only=True)
class Lock:
    """A variant's lock: PEP 751 packages plus podlock's metadata."""

    meta: LockMeta
    packages: tuple[LockedPackage, ...]
    requires_python: str
    environments: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lock-version": "1.0",
            "environments": list(self.environments),
            "requires-python": self.requires_python,
            "created-by": CREATED_BY,
            "packages": [p.to_dict() for p in self.packages],
            "tool": {"podlock": self.meta.to_dict()},
        }

    def to_toml(self) -> str:
        """The file's bytes; ``Pylock.from_dict`` accepts them (checked here)."""
        data = self.to_dict()
        Pylock.from_dict(data)
        return "# This file is generated by `podlock lock`; do not edit.\n" + tomli_w.dumps(data)


@dataclass(frozen=True, kw_only=True)
class LoadedLock:
    """A lock read back from disk and validated."""

    path: Path
    pylock: Pylock
    meta: LockMeta
    data: Mapping[str, Any]
    text: str  # the file as read (what goes into images)

    def require_platform(
        self, platform: Platform, *, what: str = "", hint: str | None = None
    ) -> None:
        """A PodlockError unless the lock covers ``platform``; ``what`` qualifies it in the
        message (e.g. ", this machine's platform"), ``hint`` replaces the default hint."""
        if str(platform) not in self.meta.platforms:
            raise PodlockError(
                f"{self.path.name} has no {platform}{what} "
                f"(it has {', '.join(self.meta.platforms)})",
                hint=hint
                if hint is not None
                else f"add {platform} to [variants.{self.meta.variant}] platforms, "
                "then run `podlock lock`",
            )

    def select(self, platform: Platform, *, hint: str | None = None) -> list[Selected]:
        """The packages and files to install on ``platform`` (which the lock must cover);
        a lock ``packaging`` cannot select from is a PodlockError with ``hint``."""
        self.require_platform(platform)
        python = self.meta.python
        try:
            return list(
                self.pylock.select(
                    environment=platform.environment(python), tags=platform.tags(python)
                )
            )
        except PylockSelectError as exc:
            raise PodlockError(
                f"{self.path.name}: cannot select files for {platform}: {exc}", hint=hint
            ) from None


def read_lock(path: Path) -> LoadedLock:
    """Read and validate; a missing or corrupt file is a LockError saying which and why."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockError("missing", path=str(path), hint="run `podlock lock`") from None
    try:
        data = tomllib.loads(text)
        pylock = Pylock.from_dict(data)
        tool = data.get("tool", {}).get("podlock")
        if not isinstance(tool, dict):
            raise ValueError("no [tool.podlock] table: not written by podlock")
        meta = LockMeta.from_dict(tool)
    except (tomllib.TOMLDecodeError, PylockValidationError, ValueError, TypeError) as exc:
        raise LockError(
            f"corrupt ({exc})", path=str(path), hint="run `podlock lock` to regenerate it"
        ) from None
    return LoadedLock(path=path, pylock=pylock, meta=meta, data=data, text=text)
