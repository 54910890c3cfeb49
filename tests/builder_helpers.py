"""Helpers for the builder tests (a unique module name: conftest.py names collide)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import testkit
from testkit import BASE_IMAGE, HELLO, docker, project_config

__all__ = [
    "BASE_IMAGE", "HELLO", "SYSTEM_TABLE", "check_golden", "docker", "project_config"
]  # fmt: skip

GOLDEN = Path(__file__).parent / "builder" / "golden"


def check_golden(name: str, text: str) -> None:
    """Compare with tests/builder/golden/NAME; PODLOCK_REGEN_GOLDEN=1 rewrites it."""
    testkit.check_golden(GOLDEN / name, text)


def _deb(platform: str, name: str, version: str, size: int) -> dict[str, object]:
    arch = platform.partition("/")[2]
    pool = f"http://deb.debian.org/debian/pool/main/{name[0]}/{name}"
    return {
        "platform": platform,
        "name": name,
        "version": version,
        "architecture": arch,
        "url": f"{pool}/{name}_{version}_{arch}.deb",
        "size": size,
        "sha256": hashlib.sha256(f"{name} {version} {arch}".encode()).hexdigest(),
    }


# A hand-written [tool.podlock.system] table (what `podlock lock` writes for curl on
# bookworm), so plan and render tests need neither the mirror nor the base image.
SYSTEM_TABLE: dict[str, object] = {
    "distribution": "debian 12 (bookworm)",
    "sources": ["http://deb.debian.org/debian bookworm main"],
    "base-status": {p: "sha256:" + "1" * 64 for p in ("linux/amd64", "linux/arm64")},
    "debs": [
        _deb(p, name, version, size)
        for p in ("linux/amd64", "linux/arm64")
        for name, version, size in (
            ("curl", "7.88.1-10+deb12u8", 315332),
            ("libcurl4", "7.88.1-10+deb12u8", 390248),
        )
    ],
}
