"""Google Artifact Registry: check (and create) the Docker repository an image is pushed to.

``REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE`` names the repository
``projects/PROJECT/locations/REGION/repositories/REPOSITORY``. The client is
``google-cloud-artifact-registry`` over REST with Application Default Credentials;
``PODLOCK_ARTIFACT_REGISTRY_ENDPOINT`` points it elsewhere (tests use a local server).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from podlock.errors import PodlockError
from podlock.registry.auth import google_credentials
from podlock.registry.reference import Reference
from podlock.reporter import Reporter

ENDPOINT_ENV = "PODLOCK_ARTIFACT_REGISTRY_ENDPOINT"


@dataclass(frozen=True, kw_only=True)
class Repository:
    project: str
    location: str
    repository: str

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/repositories/{self.repository}"

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"


def repository_of(ref: Reference) -> Repository:
    host = ref.registry.split(":", 1)[0]
    parts = ref.repository.split("/")
    if not host.endswith("-docker.pkg.dev") or len(parts) < 3:
        raise PodlockError(
            f"{ref} is not an Artifact Registry image (REGION-docker.pkg.dev/PROJECT/REPO/IMAGE)",
            hint="--create-repository only works for Artifact Registry references",
        )
    return Repository(
        project=parts[0], location=host.removesuffix("-docker.pkg.dev"), repository=parts[1]
    )


def client() -> Any:
    """An Artifact Registry client over REST with Application Default Credentials."""
    try:
        from google.api_core.client_options import ClientOptions
        from google.cloud import artifactregistry_v1
    except ImportError:
        raise PodlockError(
            "--create-repository needs google-cloud-artifact-registry",
            hint="pip install 'podlock[gcp]'",
        ) from None
    endpoint = os.environ.get(ENDPOINT_ENV)
    options = ClientOptions(api_endpoint=endpoint) if endpoint else None
    return artifactregistry_v1.ArtifactRegistryClient(
        credentials=google_credentials(), transport="rest", client_options=options
    )


def ensure_repository(ref: Reference, *, create: bool, reporter: Reporter) -> bool:
    """True when the Docker repository for ``ref`` exists (created now when ``create``)."""
    repo = repository_of(ref)
    api = client()  # first: it turns a missing google-cloud package into a clear error
    from google.api_core import exceptions as gexc
    from google.cloud import artifactregistry_v1

    try:
        found = api.get_repository(name=repo.name)
    except gexc.NotFound:
        found = None
    except gexc.PermissionDenied:
        raise PodlockError(
            f"Artifact Registry denied reading {repo.name}",
            hint="grant roles/artifactregistry.reader (or .admin to create) to your credentials",
        ) from None
    except gexc.GoogleAPICallError as exc:
        raise PodlockError(f"Artifact Registry: cannot read {repo.name}: {exc.message}") from None
    if found is not None:
        if found.format_ != artifactregistry_v1.Repository.Format.DOCKER:
            raise PodlockError(
                f"{repo.name} exists but is not a Docker repository ({found.format_.name})"
            )
        return True
    if not create:
        raise PodlockError(
            f"Artifact Registry repository {repo.name} does not exist",
            hint="pass --create-repository, or create it in the console",
        )
    reporter.info(f"creating Artifact Registry repository {repo.name}")
    try:
        operation = api.create_repository(
            parent=repo.parent,
            repository_id=repo.repository,
            repository=artifactregistry_v1.Repository(
                format_=artifactregistry_v1.Repository.Format.DOCKER,
                description="created by podlock",
            ),
        )
        operation.result(timeout=300)
    except gexc.AlreadyExists:
        return True
    except gexc.GoogleAPICallError as exc:
        raise PodlockError(f"Artifact Registry: cannot create {repo.name}: {exc.message}") from None
    return True
