"""What ran: the image digest, variant, lock fingerprint and code package of a job, recorded
as annotations at submit and read back by ``podlock jobs status`` and ``podlock jobs code``.

The code listing (path, size, mode, sha256 of each file) is stored gzip-compressed in one
annotation, because that is what can be read back with nothing but the job: the registry
may need credentials the reader lacks, and an image built by the Docker engine does not
mark which layer is the code. It is the same ``collect()`` listing the builder packs, taken
when the image is published. Annotations share a 256 KiB limit per object, so a listing
above LISTING_LIMIT is left out and only its digest kept (``jobs code`` says so).
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass

from podlock.errors import PodlockError
from podlock.plan.codepackage import CodeFile, CodePackage, files_digest

PREFIX = "podlock.dev/"
IMAGE = PREFIX + "image"
VARIANT = PREFIX + "variant"
LOCK_FINGERPRINT = PREFIX + "lock-fingerprint"
CODE_DIGEST = PREFIX + "code-digest"
CODE_REVISION = PREFIX + "code-revision"
CODE_FILES = PREFIX + "code-files"
LISTING_LIMIT = 128 * 1024  # encoded bytes; leaves room for everything else


@dataclass(frozen=True, kw_only=True)
class Provenance:
    image: str
    variant: str | None = None
    lock_fingerprint: str | None = None
    code: CodePackage | None = None

    def annotations(self) -> dict[str, str]:
        out = {IMAGE: self.image}
        if self.variant:
            out[VARIANT] = self.variant
        if self.lock_fingerprint:
            out[LOCK_FINGERPRINT] = self.lock_fingerprint
        if self.code is not None:
            out[CODE_DIGEST] = self.code.digest
            if self.code.revision:
                out[CODE_REVISION] = self.code.revision
            listing = encode_files(self.code.files)
            if len(listing) <= LISTING_LIMIT:
                out[CODE_FILES] = listing
        return out


def encode_files(files: tuple[CodeFile, ...]) -> str:
    rows = [[f.path, f.size, f.sha256, int(f.executable)] for f in files]
    raw = json.dumps(rows, separators=(",", ":")).encode()
    return base64.b64encode(gzip.compress(raw, mtime=0)).decode()


def decode_files(text: str) -> list[CodeFile]:
    try:
        rows = json.loads(gzip.decompress(base64.b64decode(text)))
        return [
            CodeFile(path=str(p), size=int(n), sha256=str(h), executable=bool(x))
            for p, n, h, x in rows
        ]
    except (ValueError, OSError, TypeError) as exc:
        raise PodlockError(f"{CODE_FILES} is not a podlock listing ({exc})") from None


def summary(annotations: Mapping[str, str]) -> list[tuple[str, str]]:
    """(what, value) rows for ``jobs status``; only what was recorded."""
    rows = [
        ("image", annotations.get(IMAGE)),
        ("variant", annotations.get(VARIANT)),
        ("lock fingerprint", annotations.get(LOCK_FINGERPRINT)),
        ("code files digest", annotations.get(CODE_DIGEST)),
        ("code revision", annotations.get(CODE_REVISION)),
    ]
    return [(k, v) for k, v in rows if v]


def code_files(name: str, annotations: Mapping[str, str]) -> list[CodeFile]:
    """The code package listing recorded for job ``name``, checked against its digest."""
    listing = annotations.get(CODE_FILES)
    digest = annotations.get(CODE_DIGEST)
    if listing is None:
        if digest:
            raise PodlockError(
                f"job {name} recorded only its code digest ({digest}): the listing was larger "
                "than an annotation can hold",
                hint="`podlock package list` in the project at that revision shows the files; "
                "its files digest must match",
            )
        raise PodlockError(
            f"job {name} has no code package recorded",
            hint="--mode custom jobs run an image podlock did not build from a project",
        )
    files = decode_files(listing)
    if digest and files_digest(files) != digest:
        raise PodlockError(f"job {name}: the code listing does not match its digest {digest}")
    return files
