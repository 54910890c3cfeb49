"""The image's SBOM: its Python packages from the lock, as SPDX 2.3 JSON, attached to the
pushed image as an OCI referrer.

The document is a function of the lock and the platforms only (its time is the build's
``SOURCE_DATE_EPOCH``, its namespace names the lock's hash), so the same lock gives the same
bytes and the same referrer digest. URLs are redacted: no credential enters it.

Attaching: the SBOM artifact (``subject`` = the image's top manifest) is ``PUT`` by digest;
a registry with the referrers API answers ``OCI-Subject`` and indexes it itself. Otherwise
(Docker's registry 2.8, for one) the OCI 1.1 fallback: the ``sha256-<hex>`` tag holds an
image index of the subject's referrers, which podlock reads, extends and writes back.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from podlock import __version__
from podlock.errors import PodlockError
from podlock.plan.layerplan import LayerPlan, Wheel
from podlock.registry.artifact import EMPTY, artifact, ensure_small_blob
from podlock.registry.client import Registry
from podlock.registry.model import (
    INDEX,
    MANIFEST,
    Descriptor,
    canonical,
    digest_of,
    hex_of,
    rfc3339,
)
from podlock.registry.reference import Reference
from podlock.urls import redact, strip_credentials

SPDX_TYPE = "application/spdx+json"
FILE_NAME = "sbom.spdx.json"
Attached = Literal["referrers-api", "fallback-tag"]
# The URL form SPDX's reference validator (spdx-tools) holds a download location to: its
# host must start with a dotted name whose next label begins with two letters. An index at
# an IP address, ``localhost`` or another one-label name fails it, and the validator refuses
# the whole document; such a URL is kept as the package's sourceInfo, its location
# NOASSERTION. (A prefix match, as the validator's own.)
_SPDX_URL = re.compile(r"(https?|ftp)://[a-z0-9]+([-.][a-z0-9]+){0,100}\.[a-z]{2,5}", re.I)


@dataclass(frozen=True, kw_only=True)
class SbomPush:
    digest: str  # the referrer manifest's
    via: Attached


def packages(plan: LayerPlan, platforms: Sequence[str]) -> list[Wheel]:
    """The wheels the image's platforms install, each once, sorted by name and file."""
    seen = {
        w.sha256: w
        for layer in plan.wheel_layers
        for p in platforms
        for w in layer.wheels.get(p, ())
    }
    return sorted(seen.values(), key=lambda w: (w.package.lower(), w.version, w.filename))


def spdx(plan: LayerPlan, platforms: Sequence[str], *, epoch: int) -> bytes:
    """SPDX 2.3 JSON (byte-stable) of the Python packages of ``plan`` for ``platforms``."""
    wheels = packages(plan, platforms)
    lock_hash = hashlib.sha256(plan.lock_text.encode()).hexdigest()
    items: list[dict[str, Any]] = []
    for n, w in enumerate(wheels, 1):
        purl = f"pkg:pypi/{_purl_name(w.package)}@{w.version}?file_name={w.filename}"
        items.append(
            {
                "SPDXID": f"SPDXRef-Package-{n}",
                "name": w.package,
                "versionInfo": w.version,
                "packageFileName": w.filename,
                **_download_location(w.url),
                "filesAnalyzed": False,
                "checksums": [{"algorithm": "SHA256", "checksumValue": w.sha256}],
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": purl,
                    }
                ],
            }
        )
    if not items:
        # An image with no Python package (system packages only): SPDX needs the document
        # to describe something, so it describes the environment, empty.
        items.append(
            {
                "SPDXID": "SPDXRef-Package-environment",
                "name": plan.lock_name,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "comment": "the lock's environment; it installs no Python package here",
            }
        )
    document = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{plan.lock_name} ({', '.join(platforms)})",
        "documentNamespace": f"https://podlock.dev/spdx/{plan.variant}/{lock_hash}/"
        + "-".join(p.replace("/", "_") for p in platforms),
        "creationInfo": {"created": rfc3339(epoch), "creators": [f"Tool: podlock-{__version__}"]},
        "packages": items,
        "relationships": [
            {
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": i["SPDXID"],
            }
            for i in items
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"


def _download_location(url: str | None) -> dict[str, str]:
    """``downloadLocation`` (and ``sourceInfo`` for a URL SPDX's validator would refuse)."""
    if not url:
        return {"downloadLocation": "NOASSERTION"}
    clean = redact(strip_credentials(url))
    if _SPDX_URL.match(clean):
        return {"downloadLocation": clean}
    return {"downloadLocation": "NOASSERTION", "sourceInfo": f"downloaded from {clean}"}


def _purl_name(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def fallback_tag(digest: str) -> str:
    return f"sha256-{hex_of(digest)}"


def attach(registry: Registry, repository: str, subject: Descriptor, document: bytes) -> SbomPush:
    """Push ``document`` as a referrer of ``subject`` (see the module's docstring)."""
    blob = Descriptor(media_type=SPDX_TYPE, digest=digest_of(document), size=len(document))
    if not registry.has_blob(repository, blob.digest):
        registry.upload_bytes(repository, blob.digest, document)
    ensure_small_blob(registry, repository, EMPTY)
    referrer = artifact(
        SPDX_TYPE,
        [blob],
        subject=subject,
        annotations={"org.opencontainers.image.created": _created(document)},
    )
    headers = registry.put_manifest(repository, referrer.digest, referrer.body, MANIFEST)
    if any(k.lower() == "oci-subject" for k in headers):
        return SbomPush(digest=referrer.digest, via="referrers-api")
    tag = fallback_tag(subject.digest)
    manifests: list[dict[str, Any]] = []
    if registry.has_manifest(repository, tag):
        body, _ = registry.manifest(repository, tag)
        manifests = [m for m in json.loads(body).get("manifests") or [] if isinstance(m, dict)]
    entry = {**referrer.descriptor.to_dict(), "artifactType": SPDX_TYPE}
    if all(m.get("digest") != referrer.digest for m in manifests):
        manifests.append(entry)
    index = canonical({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests})
    registry.put_manifest(repository, tag, index, INDEX)
    return SbomPush(digest=referrer.digest, via="fallback-tag")


def attach_pushed(image: str, document: bytes) -> SbomPush:
    """Attach ``document`` to ``image`` (``REPO@sha256:...``), pushed by another client (the
    Docker engine): its manifest is read back to describe the subject exactly."""
    ref = Reference.parse(image)
    if ref.digest is None:
        raise PodlockError(f"{image} names no digest", hint="attach an SBOM to REPO@sha256:...")
    registry = Registry(ref)
    body, media_type = registry.manifest(ref.repository, ref.digest)
    subject = Descriptor(media_type=media_type, digest=ref.digest, size=len(body))
    return attach(registry, ref.repository, subject, document)


def _created(document: bytes) -> str:
    return str(json.loads(document)["creationInfo"]["created"])
