"""Image references, whether a registry has one, and publishing an image by digest.

A launch uses the image **by digest**: a tag can move between submit and pull (and
``IfNotPresent`` then runs a stale image). Publishing is a ``Publisher``: anything that
builds and pushes the project's image and answers ``REPOSITORY@sha256:...``.
``DockerPublisher`` drives the Docker engine (``docker push`` sends only the layers the
registry lacks); ``OciPublisher`` needs no engine: the daemonless builder writes the image
and pushes only the blobs the registry lacks.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from podlock.errors import PodlockError
from podlock.registry.reference import is_loopback
from podlock.reporter import NullReporter, Reporter

if TYPE_CHECKING:
    from podlock.engine import Engine
    from podlock.plan.layerplan import LayerPlan

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


@dataclass(frozen=True, kw_only=True)
class ImageRef:
    """``[registry/]repository[:tag][@sha256:...]``; ``registry`` None means Docker Hub."""

    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        rest, _, digest = text.strip().partition("@")
        if digest and not _DIGEST.match(digest):
            raise PodlockError(
                f"image {text!r}: the digest must be sha256:<64 hex digits>",
                hint="copy it from `docker inspect --format '{{.RepoDigests}}' IMAGE`",
            )
        name, tag = rest, None
        last = rest.rsplit("/", 1)[-1]
        if ":" in last:
            name, tag = rest.rsplit(":", 1)
        first, sep, remainder = name.partition("/")
        registry = None
        if sep and ("." in first or ":" in first or first == "localhost"):
            registry, name = first, remainder
        if not name or not re.match(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*$", name):
            raise PodlockError(f"{text!r} is not an image reference", hint="e.g. REGISTRY/REPO:TAG")
        return cls(registry=registry, repository=name, tag=tag, digest=digest or None)

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def pinned(self, digest: str) -> ImageRef:
        return replace(self, tag=None, digest=digest)


def in_registry(ref: ImageRef, *, timeout: float = 10.0) -> bool | None:
    """Whether the registry has ``ref`` (HEAD on its manifest); None when it cannot be told
    without credentials (401/403), or the registry does not answer."""
    if ref.registry is None:
        return None
    scheme = "http" if is_loopback(ref.registry) else "https"  # as the oci pusher does
    reference = ref.digest or ref.tag or "latest"
    url = f"{scheme}://{ref.registry}/v2/{ref.repository}/manifests/{reference}"
    request = urllib.request.Request(url, method="HEAD", headers={"Accept": _MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError as exc:
        return False if exc.code == 404 else None
    except (urllib.error.URLError, OSError):
        return None


class ImageNotPushed(PodlockError):
    def __init__(self, ref: ImageRef) -> None:
        super().__init__(
            f"image {ref} is not in its registry ({ref.registry}); the cluster could not pull it",
            hint="push it first (`docker push`), or let `podlock launch --mode bundled` build "
            "and push it",
        )
        self.ref = ref


class Publisher(Protocol):
    """Builds the project's image for ``variant`` and pushes it to ``repository``."""

    def publish(
        self, root: Path, variant: str, *, mode: str, repository: str, reporter: Reporter
    ) -> str:
        """``repository@sha256:...`` of the pushed image."""
        ...


class PushFailed(PodlockError):
    pass


class DockerPublisher:
    """Build with the Docker engine (``podlock build``), tag into ``repository``, push."""

    def __init__(self, *, network: str | None = None, engine: Engine | None = None) -> None:
        self.network = network
        self.engine = engine

    def publish(
        self, root: Path, variant: str, *, mode: str, repository: str, reporter: Reporter
    ) -> str:
        from podlock.builder.build import DockerOptions, build_custom, build_docker, build_mode
        from podlock.engine import Engine
        from podlock.plan.load import load_plan

        engine = self.engine or Engine.connect()
        kind = build_mode(mode)
        plan = None
        if kind == "custom":
            built = build_custom(root, variant, None, engine)
        else:
            plan = load_plan(root, variant)
            options = DockerOptions(mode=kind, network=self.network)
            built = build_docker(plan, options, engine, reporter)
        tag = built.ref.rsplit(":", 1)[-1] if ":" in built.ref.rsplit("/", 1)[-1] else "latest"
        target = ImageRef.parse(repository)
        name = target.name
        engine.tag(built.image_id, f"{name}:{tag}")
        pushed = push(engine, name, tag, reporter=reporter)
        if plan is not None and kind == "bundled":  # prebuilt installs the lock at start
            self._attach_sbom(plan.plan, engine, pushed, reporter)
        return pushed

    @staticmethod
    def _attach_sbom(plan: LayerPlan, engine: Engine, pushed: str, reporter: Reporter) -> None:
        """The same SBOM the oci builder attaches, for the engine's platform."""
        from podlock.oci.sbom import attach_pushed, spdx
        from podlock.plan.load import default_platform
        from podlock.registry.model import source_epoch

        document = spdx(plan, [default_platform(plan, engine.architecture())], epoch=source_epoch())
        sbom = attach_pushed(pushed, document)
        reporter.info(f"attached the SBOM {sbom.digest[:19]} to {pushed} ({sbom.via})")


class OciPublisher:
    """Build with the daemonless OCI builder and push (bundled mode only: prebuilt needs
    the runtime base that `podlock build-base` makes with the engine)."""

    def __init__(self, *, base: str | None = None) -> None:
        self.base = base

    def publish(
        self, root: Path, variant: str, *, mode: str, repository: str, reporter: Reporter
    ) -> str:
        from podlock.oci.build import OciOptions, build_oci
        from podlock.plan.load import load_plan

        if mode != "bundled":
            raise PodlockError(
                f"--mode {mode} needs the Docker engine to build its image",
                hint="use --builder docker, or --mode bundled",
            )
        target = ImageRef.parse(repository)
        plan = load_plan(root, variant, base=self.base)
        tag = plan.plan.default_tag.rsplit(":", 1)[1]
        result = build_oci(plan, OciOptions(push_to=f"{target.name}:{tag}"), reporter=reporter)
        if result.pushed is None:
            raise PushFailed(f"the oci builder pushed nothing to {target.name}")
        return result.pushed.ref


def push(engine: Engine, name: str, tag: str, *, reporter: Reporter | None = None) -> str:
    """``docker push name:tag`` (only missing layers travel); ``name@sha256:...``."""
    reporter = reporter or NullReporter()
    client = engine.client
    pushed = existing = 0
    digest = None
    reporter.info(f"pushing {name}:{tag}")
    try:
        for chunk in client.api.push(name, tag=tag, stream=True, decode=True):
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("error") or chunk.get("errorDetail", {}).get("message")
                raise PushFailed(
                    f"push of {name}:{tag} failed: {detail}",
                    hint="check that the registry exists and you are logged in "
                    "(`docker login`, or `gcloud auth configure-docker` for Artifact Registry)",
                )
            status = str(chunk.get("status", ""))
            if status == "Pushed":
                pushed += 1
            elif status == "Layer already exists" or status.startswith("Mounted from"):
                existing += 1
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
    except PushFailed:
        raise
    except Exception as exc:
        raise PushFailed(f"push of {name}:{tag} failed: {exc}") from None
    if digest is None:
        raise PushFailed(f"push of {name}:{tag} reported no digest")
    reporter.info(f"pushed {pushed} layers, {existing} already in the registry: {name}@{digest}")
    return f"{name}@{digest}"
