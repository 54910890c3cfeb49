"""The OCI image-spec's schemas over a whole build: the layout the daemonless builder writes,
and the pushed image with every referrer (the SBOM) and every layer-cache record, read back
from the registry. And the check itself refuses broken documents, so a regression shows."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

import podlock.oci.build as oci_build
from oci_schemas import LAYOUT, check_everything_written, check_layout, errors, walk
from podlock.oci.layercache import ARTIFACT_TYPE, TAG_PREFIX
from podlock.oci.sbom import SPDX_TYPE, fallback_tag
from podlock.registry.blobs import BlobStore
from podlock.registry.client import Registry
from podlock.registry.model import CONFIG, INDEX, MANIFEST, canonical, digest_of
from podlock.registry.reference import Reference
from testkit import build_oci_at, layout_manifest


def test_a_full_layout_and_the_pushed_image_with_its_referrers_pass_the_schemas(
    hello: Callable[..., Path], base_archive: str, registry: str, tmp_path: Path
) -> None:
    root = hello()
    repository = f"podlock-test/schemas-{uuid.uuid4().hex[:10]}"
    ref = f"{registry}/{repository}:v1"
    out = tmp_path / "layout"
    result = build_oci_at(root, "cpu", base=base_archive, push_to=ref, output_dir=out, tag="v1")
    assert check_layout(out) == []
    assert layout_manifest(out)["config"]["mediaType"] == CONFIG

    client = Registry(Reference.parse(ref))
    store = BlobStore(tmp_path / "read-back")

    def read(digest: str, media_type: str) -> bytes:
        if media_type in (INDEX, MANIFEST):
            return client.manifest(repository, digest)[0]
        client.fetch_blob(repository, digest, store)
        return store.read(digest)

    def size(digest: str) -> int:
        return client.blob_size(repository, digest) or -1

    def pushed(reference: str) -> dict[str, Any]:
        body, media_type = client.manifest(repository, reference)
        return {"mediaType": media_type, "digest": digest_of(body), "size": len(body)}

    image = pushed("v1")
    assert image["digest"] == result.digest
    assert walk(read, image, size) == []
    referrers = pushed(fallback_tag(result.digest))  # registry 2.8: the fallback tag
    assert referrers["mediaType"] == INDEX
    assert walk(read, referrers, size) == []
    [sbom] = json.loads(read(referrers["digest"], INDEX))["manifests"]
    assert sbom["artifactType"] == SPDX_TYPE
    assert json.loads(read(sbom["digest"], MANIFEST))["layers"][0]["mediaType"] == SPDX_TYPE

    tags = requests.get(f"http://{registry}/v2/{repository}/tags/list", timeout=30).json()["tags"]
    records = [pushed(t) for t in tags if t.startswith(TAG_PREFIX)]
    assert len(records) == result.cache_recorded > 0
    for record in records:
        assert walk(read, record, size) == []
        assert json.loads(read(record["digest"], MANIFEST))["artifactType"] == ARTIFACT_TYPE


MANIFEST_DOC = {
    "schemaVersion": 2,
    "mediaType": MANIFEST,
    "config": {"mediaType": CONFIG, "digest": "sha256:" + "a" * 64, "size": 2},
    "layers": [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": "sha256:" + "b" * 64,
            "size": 10,
        }
    ],
}


def broken(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(MANIFEST_DOC)
    document.update(changes)
    return document


def test_the_schemas_refuse_broken_documents() -> None:
    assert errors(MANIFEST_DOC, MANIFEST) == []
    bad_type = broken(layers=[{**MANIFEST_DOC["layers"][0], "mediaType": "a layer"}])  # type: ignore[dict-item]
    assert any("layers.0.mediaType" in e for e in errors(bad_type, MANIFEST))
    assert any(
        "'config' is a required property" in e
        for e in errors({"schemaVersion": 2, "layers": []}, MANIFEST)
    )
    assert any("schemaVersion" in e for e in errors(broken(schemaVersion=1), MANIFEST))
    short = broken(config={**MANIFEST_DOC["config"], "digest": "sha256:abc"})  # type: ignore[dict-item]
    assert any("sha256:abc" in e for e in errors(short, MANIFEST))
    assert errors(
        {
            "schemaVersion": 2,
            "manifests": [{"mediaType": MANIFEST, "digest": "sha256:" + "c" * 64}],
        },
        INDEX,
    )
    assert errors({"imageLayoutVersion": "2.0.0"}, LAYOUT)
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    assert errors({**config, "created": "1980-01-01T00:00:00Z"}, CONFIG) == []
    assert any("created" in e for e in errors({**config, "created": "yesterday"}, CONFIG))
    assert any("Env" in e for e in errors({**config, "config": {"Env": ["NOEQUALS"]}}, CONFIG))


def test_a_blob_that_is_not_what_its_descriptor_says_is_refused() -> None:
    body = canonical(MANIFEST_DOC)
    blobs = {digest_of(body): body}
    descriptor = {"mediaType": MANIFEST, "digest": digest_of(body), "size": len(body) + 1}
    found = walk(lambda d, _: blobs[d], descriptor)
    assert found and "does not match its descriptor" in found[0]
    said_index = {**descriptor, "mediaType": INDEX, "size": len(body)}
    assert any("its descriptor says" in e for e in walk(lambda d, _: blobs[d], said_index))
    layer = MANIFEST_DOC["layers"][0]
    assert walk(lambda d, _: b"", layer, lambda d: 10) == []  # type: ignore[arg-type]
    [short] = walk(lambda d, _: b"", layer, lambda d: 9)  # type: ignore[arg-type]
    assert short.endswith("9 bytes, its descriptor says 10")


def test_the_hook_on_every_test_sees_bad_pushes_and_layouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def write_layout(built: Any, out: Path, *args: Any, **kw: Any) -> None:
        out.mkdir()
        (out / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')
        (out / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')

    monkeypatch.setattr(Registry, "put_manifest", lambda *args: {})  # no registry
    monkeypatch.setattr(oci_build, "write_layout", write_layout)
    found = check_everything_written(monkeypatch)  # wraps the two fakes
    body = canonical(broken(layers=[{**MANIFEST_DOC["layers"][0], "mediaType": "a layer"}]))  # type: ignore[dict-item]
    Registry.put_manifest(None, "team/app", "v1", body, MANIFEST)  # type: ignore[arg-type]
    oci_build.write_layout(None, tmp_path / "layout", None, tag=None)
    assert len(found) == 2, found
    assert found[0].startswith("push team/app:v1: ") and "layers.0.mediaType" in found[0]
    assert found[1].startswith(f"layout {tmp_path / 'layout'}: ") and "2.0.0" in found[1]
