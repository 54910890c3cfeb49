"""Image references (``host[:port]/repo[:tag][@sha256:...]``) and where base images come from.

A ``Reference`` holds both forms of a name: the one the registry API needs (Docker Hub's
defaults filled in: ``docker.io``, ``library/``, ``:latest``) and the one the user wrote,
which launch manifests and messages show unchanged.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from podlock.errors import PodlockError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_REPO = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_LAUNCH_REPO = re.compile(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

# Which checks a parse applies. "registry": the distribution grammar (tags checked, ``__``
# and ``--`` allowed in names). "launch": what `podlock launch`, `render` and the
# publishers have always accepted (any tag, one separator between name parts, an empty
# ``@`` ignored), with their own messages.
Rules = Literal["registry", "launch"]


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
    repository: str  # library/NAME for Docker Hub's official images
    tag: str | None = None  # latest where neither a tag nor a digest was written
    digest: str | None = None
    # As written, before Docker Hub's defaults: no host (None), no library/, no tag (None).
    written_registry: str | None = None
    written_repository: str = ""
    written_tag: str | None = None

    @classmethod
    def parse(cls, text: str, *, rules: Rules = "registry") -> Reference:
        rest = text.strip()
        digest = None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            if rules == "launch" and not digest:
                digest = None
            elif not _DIGEST.match(digest):
                if rules == "launch":
                    raise PodlockError(
                        f"image {text!r}: the digest must be sha256:<64 hex digits>",
                        hint="copy it from `docker inspect --format '{{.RepoDigests}}' IMAGE`",
                    )
                raise ReferenceError_(text, f"bad digest {digest!r}")
        first, _, remainder = rest.partition("/")
        host = None
        if remainder and ("." in first or ":" in first or first == "localhost"):
            host, path = first, remainder
        else:
            path = rest
        tag = None
        if ":" in path.rsplit("/", 1)[-1]:
            path, tag = path.rsplit(":", 1)
            if rules == "registry" and not _TAG.match(tag):
                raise ReferenceError_(text, f"bad tag {tag!r}")
        registry = host or DOCKER_HUB
        repository = f"library/{path}" if registry == DOCKER_HUB and "/" not in path else path
        if rules == "launch" and not _LAUNCH_REPO.match(path):
            raise PodlockError(f"{text!r} is not an image reference", hint="e.g. REGISTRY/REPO:TAG")
        if not _REPO.match(repository):
            raise ReferenceError_(text, f"bad repository {repository!r}")
        return cls(
            registry=registry,
            repository=repository,
            tag=tag if tag is not None or digest is not None else "latest",
            digest=digest,
            written_registry=host,
            written_repository=path,
            written_tag=tag,
        )

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

    @property
    def written_name(self) -> str:
        """``[registry/]repository`` as written (``python``, not ``docker.io/library/python``)."""
        repository = self.written_repository
        return f"{self.written_registry}/{repository}" if self.written_registry else repository

    def as_written(self) -> str:
        """The reference as the user wrote it (trimmed; an empty tag or ``@`` left out)."""
        return self._spelled(self.written_name, self.written_tag)

    def __str__(self) -> str:
        return self._spelled(self.name, self.tag)

    def _spelled(self, name: str, tag: str | None) -> str:
        return name + (f":{tag}" if tag else "") + (f"@{self.digest}" if self.digest else "")


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
