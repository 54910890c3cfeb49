"""The lock's ``[tool.podlock.system]`` table: one entry per .deb, per platform.

```toml
[tool.podlock.system]
distribution = "debian 12 (bookworm)"
sources = ["http://deb.debian.org/debian bookworm main"]
snapshot = "https://snapshot.debian.org/archive/debian/20260711T101637Z/"   # optional
base-status = { "linux/amd64" = "sha256:…" }   # the base's /var/lib/dpkg/status
[[tool.podlock.system.debs]]
platform = "linux/amd64"
name = "libgl1"
version = "1.6.0-1"
architecture = "amd64"
url = "http://deb.debian.org/debian/pool/main/libg/libglvnd/libgl1_1.6.0-1_amd64.deb"
size = 97504
sha256 = "…"
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podlock.errors import PodlockError

DEBIAN_ARCH = {"amd64": "amd64", "arm64": "arm64"}


class SystemLockError(PodlockError):
    """A ``[tool.podlock.system]`` table podlock cannot use."""


def debian_arch(platform: str) -> str:
    """``linux/amd64`` → ``amd64``: the Debian architecture of a podlock platform."""
    arch = platform.partition("/")[2]
    if arch not in DEBIAN_ARCH:
        raise SystemLockError(
            f"system packages: no Debian architecture for {platform}",
            hint="system packages are locked for linux/amd64 and linux/arm64 only",
        )
    return DEBIAN_ARCH[arch]


@dataclass(frozen=True, kw_only=True)
class Deb:
    """One locked .deb: where it is, how big, its sha256, and for which platform."""

    platform: str
    name: str
    version: str
    architecture: str
    url: str
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        """``name_version_arch.deb``, as the pool names it (an epoch's ``:`` as ``%3a``)."""
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.architecture}.deb"

    @property
    def pool_path(self) -> str:
        """The path under the archive root (``pool/main/…``), for the snapshot fallback."""
        marker = "/pool/"
        at = self.url.find(marker)
        return self.url[at + 1 :] if at >= 0 else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "name": self.name,
            "version": self.version,
            "architecture": self.architecture,
            "url": self.url,
            "size": self.size,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Deb:
        try:
            return cls(
                platform=str(d["platform"]),
                name=str(d["name"]),
                version=str(d["version"]),
                architecture=str(d["architecture"]),
                url=str(d["url"]),
                size=int(d["size"]),
                sha256=str(d["sha256"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SystemLockError(
                f"tool.podlock.system.debs: an entry lacks {exc}", hint="run `podlock lock`"
            ) from None


@dataclass(frozen=True, kw_only=True)
class SystemLock:
    """What ``podlock lock`` resolved for a variant's system packages."""

    distribution: str
    sources: tuple[str, ...]
    base_status: Mapping[str, str]  # platform -> sha256 of the base's dpkg status
    debs: tuple[Deb, ...]
    snapshot: str | None = None

    def for_platform(self, platform: str) -> tuple[Deb, ...]:
        return tuple(d for d in self.debs if d.platform == platform)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "distribution": self.distribution,
            "sources": list(self.sources),
            "base-status": dict(sorted(self.base_status.items())),
        }
        if self.snapshot:
            out["snapshot"] = self.snapshot
        out["debs"] = [d.to_dict() for d in sorted(self.debs, key=_order)]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SystemLock:
        debs = d.get("debs", [])
        status = d.get("base-status", {})
        if not isinstance(debs, list) or not isinstance(status, dict):
            raise SystemLockError(
                "tool.podlock.system: debs must be a list and base-status a table",
                hint="run `podlock lock`",
            )
        return cls(
            distribution=str(d.get("distribution", "")),
            sources=tuple(str(s) for s in d.get("sources", [])),
            base_status={str(k): str(v) for k, v in status.items()},
            debs=tuple(Deb.from_dict(e) for e in debs),
            snapshot=str(d["snapshot"]) if d.get("snapshot") else None,
        )


@dataclass(frozen=True, kw_only=True)
class SystemTar:
    """A build context's ``layers/system.tar``: ``platform``'s system layer, made from the
    locked .debs (verified) on ``base_image`` when the context is written."""

    system: SystemLock
    platform: str
    base_image: str

    @property
    def debs(self) -> tuple[Deb, ...]:
        return self.system.for_platform(self.platform)


def read_system(table: Mapping[str, Any], packages: Sequence[str], lock: str) -> SystemLock:
    """The lock's system table; a lock with system packages but no table is stale."""
    if not table:
        raise SystemLockError(
            f"{lock} names system packages ({', '.join(packages)}) but locks no .debs for them "
            "(written by an older podlock)",
            hint="run `podlock lock --upgrade` to lock them",
        )
    return SystemLock.from_dict(table)


def _order(d: Deb) -> tuple[str, str, str]:
    return (d.platform, d.name, d.architecture)
