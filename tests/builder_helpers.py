"""Helpers for the builder tests (a unique module name: conftest.py names collide)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import testkit
from podlock.inputs.discover import discover
from podlock.lock.fingerprint import fingerprint_of, input_digests
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


# The hello project locked once against the fixture index, with its URLs written as
# http://index: the pure plan/render tests read these (no uv, no HTTP).
RECORDED = Path(__file__).parent / "builder" / "locked"
RECORDED_URL = "http://index"


def recorded_hello(where: Path, variant: str) -> Path:
    """A copy of the hello project at ``where``/hello, configured for ``variant`` only and
    locked from the recorded lock (up to date: ``podlock lock --check`` passes)."""
    root = where / "hello"
    shutil.copytree(HELLO, root)
    for name in ("podlock.toml", f"pylock.{variant}.toml"):
        shutil.copy(RECORDED / variant / name, root / name)
    return root


def record_lock(root: Path, variant: str, base_url: str) -> dict[str, str]:
    """podlock.toml and the lock of ``root`` (locked against the index at ``base_url``),
    rewritten in place for http://index, with the lock's input digests and fingerprint computed
    again for the rewritten podlock.toml, so the pair is a consistent, up-to-date lock."""

    def digests() -> tuple[list[str], str]:
        inputs = discover(root)
        found = input_digests(inputs, inputs.config.variant(variant))
        return _strings(found), fingerprint_of(found)

    old, old_fp = digests()
    toml = (root / "podlock.toml").read_text().replace(base_url, RECORDED_URL)
    (root / "podlock.toml").write_text(toml)
    new, new_fp = digests()
    lock = (root / f"pylock.{variant}.toml").read_text().replace(base_url, RECORDED_URL)
    for before, after in [*zip(old, new, strict=True), (old_fp, new_fp)]:
        lock = lock.replace(f'"{before}"', f'"{after}"')
    (root / f"pylock.{variant}.toml").write_text(lock)
    return {"podlock.toml": toml, f"pylock.{variant}.toml": lock}


def _strings(value: Any) -> list[str]:
    """The digest strings in ``value`` (nested dicts and lists), in a fixed order."""
    if isinstance(value, dict):
        return [s for k in sorted(value) for s in _strings(value[k])]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) and value.startswith("sha256:") else []
