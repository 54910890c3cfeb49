"""Image references (``host[:port]/repo[:tag][@sha256:...]``) and where base images come from."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from podlock.errors import PodlockError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_REPO = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ReferenceError_(PodlockError):
    def __init__(self, text: str, why: str) -> None:
        super().__init__(
            f"not an image reference: {text!r} ({why})",
            hint="write host[:port]/repository[:tag][@sha256:...], docker-archive:PATH or "
            "oci-layout:PATH[:TAG]",
        )


@dataclass(frozen=True, kw_only=True)
class Reference:
    registry: str  # as written (docker.io for Docker Hub)
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        rest = text.strip()
        digest = None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            if not _DIGEST.match(digest):
                raise ReferenceError_(text, f"bad digest {digest!r}")
        first, _, remainder = rest.partition("/")
        if remainder and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, remainder
        else:
            registry, path = DOCKER_HUB, rest
        tag = None
        if ":" in path.rsplit("/", 1)[-1]:
            path, tag = path.rsplit(":", 1)
            if not _TAG.match(tag):
                raise ReferenceError_(text, f"bad tag {tag!r}")
        if registry == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
        if not _REPO.match(path):
            raise ReferenceError_(text, f"bad repository {path!r}")
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry=registry, repository=path, tag=tag, digest=digest)

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def insecure(self) -> bool:
        """Plain HTTP, as Docker allows it: only for registries on loopback."""
        return is_loopback(self.registry)

    @property
    def base_url(self) -> str:
        return f"{'http' if self.insecure else 'https'}://{self.api_host}"

    @property
    def name(self) -> str:
        """``registry/repository`` (what a digest is appended to)."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
