"""Whether a registry has an image, and publishing an image by digest.

A launch uses the image **by digest**: a tag can move between submit and pull (and
``IfNotPresent`` then runs a stale image). Publishing is a ``Publisher``: anything that
builds and pushes the project's image and answers ``REPOSITORY@sha256:...``.
``DockerPublisher`` drives the Docker engine (``docker push`` sends only the layers the
registry lacks); ``OciPublisher`` needs no engine: the daemonless builder writes the image
and pushes only the blobs the registry lacks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from podlock.errors import PodlockError
from podlock.registry.reference import Reference
from podlock.reporter import Reporter

if TYPE_CHECKING:
    from podlock.engine import Engine
    from podlock.plan.layerplan import LayerPlan


def in_registry(ref: Reference, *, timeout: float = 10.0) -> bool | None:
    """Whether the registry has ``ref`` (HEAD on its manifest); None when it cannot be told
    (no registry host written, credentials missing or refused), or the registry does not
    answer."""
    if ref.written_registry is None:
        return None
    # Here, not at the top: requests costs `podlock launch` and `render` start-up time.
    from podlock.registry.client import Registry

    registry = Registry(ref, retries=0, timeout=(timeout, timeout))
    try:
        return registry.has_manifest(ref.repository, ref.reference)
    except (PodlockError, OSError):
        return None


class ImageNotPushed(PodlockError):
    def __init__(self, ref: Reference) -> None:
        super().__init__(
            f"image {ref.as_written()} is not in its registry ({ref.written_registry}); the "
            "cluster could not pull it",
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


class DockerPublisher:
    """Build with the Docker engine (``podlock build``), tag into ``repository``, push."""

    def __init__(
        self,
        *,
        network: str | None = None,
        engine: Engine | None = None,
        platform: str | None = None,
    ) -> None:
        self.network = network
        self.engine = engine
        self.platform = platform  # what the cluster's nodes run (None: the engine's own)

    def publish(
        self, root: Path, variant: str, *, mode: str, repository: str, reporter: Reporter
    ) -> str:
        from podlock.builder.build import DockerOptions, build_custom, build_docker, build_mode
        from podlock.builder.push import push
        from podlock.engine import Engine
        from podlock.plan.load import load_plan

        engine = self.engine or Engine.connect()
        if self.platform is not None and f"linux/{engine.architecture()}" != self.platform:
            raise PodlockError(
                f"the job runs on {self.platform} nodes, and the Docker engine builds "
                f"linux/{engine.architecture()} images",
                hint="use --builder oci: the daemonless builder builds any platform the lock "
                "covers",
            )
        kind = build_mode(mode)
        plan = None
        if kind == "custom":
            built = build_custom(root, variant, None, engine)
        else:
            plan = load_plan(root, variant, reporter=reporter)
            options = DockerOptions(mode=kind, network=self.network)
            built = build_docker(plan, options, engine, reporter)
        tag = built.ref.rsplit(":", 1)[-1] if ":" in built.ref.rsplit("/", 1)[-1] else "latest"
        name = Reference.parse(repository, rules="launch").written_name
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

    def __init__(self, *, base: str | None = None, platform: str | None = None) -> None:
        self.base = base
        self.platform = platform  # None: this machine's

    def publish(
        self, root: Path, variant: str, *, mode: str, repository: str, reporter: Reporter
    ) -> str:
        from podlock.builder.push import PushFailed
        from podlock.oci.build import OciOptions, build_oci
        from podlock.plan.load import load_plan

        if mode != "bundled":
            raise PodlockError(
                f"--mode {mode} needs the Docker engine to build its image",
                hint="use --builder docker, or --mode bundled",
            )
        target = Reference.parse(repository, rules="launch").written_name
        plan = load_plan(root, variant, base=self.base, reporter=reporter)
        tag = plan.plan.default_tag.rsplit(":", 1)[1]
        options = OciOptions(
            push_to=f"{target}:{tag}", platforms=(self.platform,) if self.platform else ()
        )
        result = build_oci(plan, options, reporter=reporter)
        if result.pushed is None:
            raise PushFailed(f"the oci builder pushed nothing to {target}")
        return result.pushed.ref
