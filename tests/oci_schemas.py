"""What podlock writes, checked as its consumers check it: the OCI image-spec's own JSON
schemas (vendored in tests/data, see its README) for layouts, indexes, manifests, configs
and artifacts; SPDX 2.3's JSON schema and spdx-tools for the SBOM.

The schemas are draft-04 and ``$ref`` each other by relative file name; a referencing
Registry serves them from disk by that name, so nothing is fetched. The Go validator the
spec ships adds two checks its schemas cannot say (a config's ``Env`` entries are
``KEY=value``; a sha256 digest is 64 lowercase hex), and so does this module.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema

from podlock.registry.model import CONFIG, INDEX, MANIFEST, digest_of

SCHEMAS = Path(__file__).parent / "data" / "oci-image-spec"
SPDX_SCHEMA = Path(__file__).parent / "data" / "spdx" / "spdx-schema.json"
LAYOUT = "oci-layout"  # not a media type: the layout's version file
SPDX_TYPE = "application/spdx+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
FILES = {
    LAYOUT: "image-layout-schema.json",
    INDEX: "image-index-schema.json",
    MANIFEST: "image-manifest-schema.json",
    CONFIG: "config-schema.json",
}
SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")

Read = Callable[[str, str], bytes]  # (digest, media type) -> the bytes


def _retrieve(uri: str) -> referencing.Resource[Any]:
    """Every schema by its file name, whatever base URI a ``$ref`` was resolved against."""
    path = SCHEMAS / uri.rsplit("/", 1)[-1]
    if not path.is_file():
        raise referencing.exceptions.NoSuchResource(ref=uri)
    return referencing.jsonschema.DRAFT4.create_resource(json.loads(path.read_text()))


_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or RFC3339.fullmatch(value) is not None


@cache
def validator(kind: str) -> jsonschema.Draft4Validator:
    schema = json.loads((SCHEMAS / FILES[kind]).read_text())
    registry: referencing.Registry[Any] = referencing.Registry(retrieve=_retrieve)
    return jsonschema.Draft4Validator(schema, registry=registry, format_checker=_FORMATS)


def errors(document: Any, kind: str) -> list[str]:
    """What the image-spec refuses in ``document`` (a media type of FILES, or LAYOUT)."""
    found = [
        f"{kind} {'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator(kind).iter_errors(document)
    ]
    found += [f"{kind}: digest {d} is not sha256:<64 hex>" for d in _digests(document)]
    if kind == CONFIG and isinstance(document, dict):
        env = (document.get("config") or {}).get("Env") or []
        found += [f"config Env {e!r}: not KEY=value" for e in env if not re.match(r"[^=]+=", e)]
    return found


def _digests(value: Any) -> list[str]:
    """The sha256 digests in ``value`` whose form go-digest would refuse."""
    if isinstance(value, dict):
        bad = [d for k, d in value.items() if k == "digest" and not _is_sha256(d)]
        return bad + [d for v in value.values() for d in _digests(v)]
    if isinstance(value, list):
        return [d for v in value for d in _digests(v)]
    return []


def _is_sha256(digest: Any) -> bool:
    return not str(digest).startswith("sha256:") or bool(SHA256.fullmatch(str(digest)))


@cache
def spdx_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SPDX_SCHEMA.read_text()))


def spdx_errors(document: bytes) -> list[str]:
    """What SPDX 2.3's JSON schema and spdx-tools (the SPDX reference implementation, whose
    parser drops fields it does not know) refuse in an SPDX 2.3 JSON SBOM."""
    from spdx_tools.spdx.parser.error import SPDXParsingError
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    data = json.loads(document)
    found = [
        f"spdx schema {'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in spdx_validator().iter_errors(data)
    ]
    try:
        parsed = JsonLikeDictParser().parse(data)
    except SPDXParsingError as exc:
        return found + [f"spdx: {m}" for m in exc.get_messages()]
    return found + [
        f"spdx: {m.validation_message}" for m in validate_full_spdx_document(parsed, "SPDX-2.3")
    ]


def walk(
    read: Read, descriptor: dict[str, Any], sizes: Callable[[str], int] | None = None
) -> list[str]:
    """Errors in the content under ``descriptor``: each index, manifest, config and SBOM is
    checked against its schema, and each blob read against its descriptor's digest and size
    (with ``sizes``, also every layer's size, without reading it)."""
    media_type, digest = descriptor.get("mediaType"), str(descriptor.get("digest"))
    wanted = {INDEX, MANIFEST, CONFIG, SPDX_TYPE, EMPTY_TYPE}
    if media_type not in wanted:
        if sizes is not None and sizes(digest) != descriptor.get("size"):
            return [
                f"{digest}: {sizes(digest)} bytes, its descriptor says {descriptor.get('size')}"
            ]
        return []
    body = read(digest, str(media_type))
    if digest_of(body) != digest or len(body) != descriptor.get("size"):
        return [f"{digest}: the blob read does not match its descriptor ({len(body)} bytes)"]
    if media_type == SPDX_TYPE:
        return spdx_errors(body)
    if media_type == EMPTY_TYPE:
        return [] if body == b"{}" else [f"{digest}: the empty descriptor's blob is not {{}}"]
    document = json.loads(body)
    found = errors(document, media_type)
    if document.get("mediaType") not in (None, media_type):
        found.append(
            f"{digest}: mediaType {document['mediaType']}, its descriptor says {media_type}"
        )
    children = document.get("manifests", []) if media_type == INDEX else []
    if media_type == MANIFEST:
        children = [document.get("config", {}), *document.get("layers", [])]
    return found + [e for child in children for e in walk(read, child, sizes)]


def layout_errors(
    read_file: Callable[[str], bytes | None], size_of: Callable[[str], int]
) -> list[str]:
    """Errors in an OCI image layout, given its files by relative path (None: missing) and
    their sizes (-1: missing); each layer's size is checked, its bytes are not read."""
    version, index = read_file("oci-layout"), read_file("index.json")
    if version is None or index is None:
        return ["an OCI layout needs both oci-layout and index.json"]
    found = errors(json.loads(version), LAYOUT) + errors(json.loads(index), INDEX)

    def path(digest: str) -> str:
        return f"blobs/sha256/{digest.removeprefix('sha256:')}"

    def blob(digest: str, media_type: str) -> bytes:
        data = read_file(path(digest))
        if data is None:
            raise AssertionError(f"the layout has no blob {digest}")
        return data

    for entry in json.loads(index).get("manifests", []):
        found += walk(blob, entry, lambda d: size_of(path(d)))
    return found


def check_layout(path: Path) -> list[str]:
    """Errors in the OCI image layout directory at ``path``."""

    def read_file(name: str) -> bytes | None:
        target = path / name
        return target.read_bytes() if target.is_file() else None

    def size_of(name: str) -> int:
        target = path / name
        return target.stat().st_size if target.is_file() else -1

    return layout_errors(read_file, size_of)


def check_tar(path: Path) -> list[str]:
    """Errors in the OCI layout inside the tarball at ``path``."""
    with tarfile.open(path) as tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}

        def read_file(name: str) -> bytes | None:
            member = members.get(name)
            extracted = tar.extractfile(member) if member else None
            return extracted.read() if extracted else None

        def size_of(name: str) -> int:
            member = members.get(name)
            return member.size if member else -1

        return layout_errors(read_file, size_of)


def check_document(body: bytes, media_type: str) -> list[str]:
    """Errors in a manifest or index about to be pushed (other media types: none)."""
    if media_type not in (INDEX, MANIFEST):
        return []
    return errors(json.loads(body), media_type)


def check_everything_written(monkeypatch: Any) -> list[str]:
    """Check every layout, tarball, pushed manifest or index and SBOM the code under test
    writes from now on; returns the list the errors found are appended to."""
    import podlock.oci.build as build
    import podlock.oci.sbom as sbom
    from podlock.registry.blobs import BlobStore
    from podlock.registry.client import Registry

    found: list[str] = []
    real_layout, real_tar, real_spdx = build.write_layout, build.write_docker_tar, sbom.spdx
    real_put = Registry.put_manifest

    def write_layout(built: Any, out: Path, *args: Any, **kw: Any) -> None:
        real_layout(built, out, *args, **kw)
        found.extend(f"layout {out}: {e}" for e in check_layout(out))

    def write_docker_tar(built: Any, out: Path, *args: Any, **kw: Any) -> None:
        real_tar(built, out, *args, **kw)
        found.extend(f"tarball {out}: {e}" for e in check_tar(out))

    def spdx(*args: Any, **kw: Any) -> bytes:
        document = real_spdx(*args, **kw)
        found.extend(spdx_errors(document))
        return document

    def put_manifest(
        self: Any, repository: str, reference: str, body: bytes, media_type: str
    ) -> Any:
        problems = check_document(body, media_type)
        config = json.loads(body).get("config") if media_type == MANIFEST else None
        store = BlobStore()
        if config and config.get("mediaType") == CONFIG and store.has(config["digest"]):
            problems += walk(lambda d, _: store.read(d), config)  # pushed before the manifest
        found.extend(f"push {repository}:{reference}: {e}" for e in problems)
        return real_put(self, repository, reference, body, media_type)

    monkeypatch.setattr(build, "write_layout", write_layout)
    monkeypatch.setattr(build, "write_docker_tar", write_docker_tar)
    monkeypatch.setattr(build, "spdx", spdx)
    monkeypatch.setattr(sbom, "spdx", spdx)
    monkeypatch.setattr(Registry, "put_manifest", put_manifest)
    return found
