"""The uv binary that installs wheels inside the image: podlock's own, verified.

podlock depends on uv, so the host has its binary, installed from a wheel whose RECORD
holds the binary's sha256. When the image's platform is the host's, that binary (checked
against RECORD) goes into the build's install stages: installs run with uv, hashes
enforced, no index. For another platform there is no verified binary at hand, and the
install falls back to the base image's pip, which is slower but installs the same files.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from podlock.errors import PodlockError
from podlock.platforms import host_platform


@dataclass(frozen=True)
class UvBinary:
    version: str
    path: Path
    sha256: str

    def read(self) -> bytes:
        """The binary's bytes, re-checked against RECORD (a changed file is not used)."""
        data = self.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise PodlockError(
                f"{self.path} does not match its wheel's RECORD",
                hint="reinstall uv (`pip install --force-reinstall uv`)",
            )
        return data


@cache
def for_platform(platform: str) -> UvBinary | None:
    """The verified uv binary that runs on ``platform``, or None."""
    try:
        if platform != str(host_platform()):
            return None
    except PodlockError:  # a host podlock cannot name is no target of its images
        return None
    try:
        dist = importlib.metadata.distribution("uv")
    except importlib.metadata.PackageNotFoundError:
        return None
    record = dist.read_text("RECORD") or ""
    for line in record.splitlines():
        path, _, rest = line.partition(",")
        if not path.endswith("/bin/uv"):
            continue
        algo, _, value = rest.partition(",")[0].partition("=")
        if algo != "sha256":
            return None
        digest = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
        binary = Path(str(dist.locate_file(path))).resolve()
        if not binary.is_file():
            return None
        with binary.open("rb") as fh:
            if hashlib.file_digest(fh, "sha256").hexdigest() != digest:
                return None
        return UvBinary(version=dist.version, path=binary, sha256=digest)
    return None
