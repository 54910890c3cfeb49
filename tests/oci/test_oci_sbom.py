"""The SBOM: SPDX 2.3 of the image's Python packages from the lock, pushed as an OCI
referrer (the fallback tag on the real registry 2.8, the referrers API through a proxy
that plays a registry having it), written beside an OCI layout, printed by `podlock sbom`."""

from __future__ import annotations

import json
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests

from index_server import PRIVATE_PASSWORD
from oci_schemas import spdx_errors
from podlock.oci.sbom import SPDX_TYPE, fallback_tag, spdx
from podlock.plan.layerplan import Wheel
from podlock.registry.client import Registry
from podlock.registry.reference import Reference
from registry_proxy import ProxyState, proxy
from testkit import build_oci_at


def repo() -> str:
    return f"podlock-test/sbom-{uuid.uuid4().hex[:10]}"


def locked(root: Path) -> set[tuple[str, str]]:
    lock = tomllib.loads((root / "pylock.cpu.toml").read_text())
    return {(p["name"], p["version"]) for p in lock["packages"]}


def described(document: dict[str, Any]) -> set[tuple[str, str]]:
    assert document["spdxVersion"] == "SPDX-2.3"
    out = set()
    for p in document["packages"]:
        assert len(p["checksums"][0]["checksumValue"]) == 64
        assert p["externalRefs"][0]["referenceLocator"].startswith(f"pkg:pypi/{p['name'].lower()}@")
        # the fixture index is at 127.0.0.1, a host SPDX's validator refuses in a location
        assert p["downloadLocation"] == "NOASSERTION"
        assert p["sourceInfo"].startswith("downloaded from http://127.0.0.1:")
        out.add((p["name"], p["versionInfo"]))
    return out


def test_push_attaches_the_sbom_under_the_fallback_tag_without_a_referrers_api(
    hello: Callable[..., Path], base_archive: str, registry: str
) -> None:
    root = hello()
    repository = repo()
    ref = f"{registry}/{repository}:v1"
    result = build_oci_at(root, "cpu", base=base_archive, push_to=ref)
    assert result.sbom is not None and result.sbom.via == "fallback-tag"
    client = Registry(Reference.parse(ref))
    assert client.referrers(repository, result.digest) is None  # registry 2.8: no such API
    index = json.loads(client.manifest(repository, fallback_tag(result.digest))[0])
    [entry] = index["manifests"]
    assert entry["digest"] == result.sbom.digest and entry["artifactType"] == SPDX_TYPE
    referrer = json.loads(client.manifest(repository, entry["digest"])[0])
    assert referrer["subject"]["digest"] == result.digest
    assert referrer["artifactType"] == SPDX_TYPE
    url = f"http://{registry}/v2/{repository}/blobs/{referrer['layers'][0]['digest']}"
    document = requests.get(url, timeout=30).json()
    assert described(document) == locked(root)
    # Pushing again adds no second entry; the SBOM's bytes are the same.
    again = build_oci_at(root, "cpu", base=base_archive, push_to=ref)
    assert again.sbom == result.sbom
    assert (
        len(json.loads(client.manifest(repository, fallback_tag(result.digest))[0])["manifests"])
        == 1
    )


def test_push_uses_the_referrers_api_where_the_registry_has_it(
    hello: Callable[..., Path], base_archive: str, registry: str
) -> None:
    root = hello()
    repository = repo()
    state = ProxyState(upstream=registry, referrers_api=True)
    with proxy(state) as host:
        ref = f"{host}/{repository}:v1"
        result = build_oci_at(root, "cpu", base=base_archive, push_to=ref)
        client = Registry(Reference.parse(ref))
        listed = client.referrers(repository, result.digest)
        assert not client.has_manifest(repository, fallback_tag(result.digest))
    assert result.sbom is not None and result.sbom.via == "referrers-api"
    assert listed is not None
    [entry] = json.loads(listed)["manifests"]
    assert entry["digest"] == result.sbom.digest and entry["artifactType"] == SPDX_TYPE


def test_output_dir_and_sbom_command_give_the_same_bytes_without_credentials(
    hello: Callable[..., Path], cli: Any, base_archive: str, tmp_path: Path
) -> None:
    root = hello(private=True)
    out = tmp_path / "layout"
    built = cli(
        "build", "--builder", "oci", "--project", str(root), "--variant", "cpu",
        "--base", base_archive, "--output-dir", str(out),
    )  # fmt: skip
    assert built.code == 0, built.err
    printed = cli("sbom", "--project", str(root), "--variant", "cpu")
    assert printed.code == 0, printed.err
    written = (out / "sbom.spdx.json").read_text()
    assert printed.out == written
    assert cli("sbom", "--project", str(root), "--variant", "cpu").out == written
    assert PRIVATE_PASSWORD not in written and "alice" not in written
    document = json.loads(written)
    assert described(document) == locked(root)
    assert "secretpkg" in {name for name, _ in described(document)}


def a_plan(*urls: str) -> Any:
    """The little of a LayerPlan the SBOM reads: one wheel layer holding a wheel per URL."""
    wheels = tuple(
        Wheel(package=f"pkg{n}", version="1.0", filename=f"pkg{n}-1.0-py3-none-any.whl",
              url=url, sha256=f"{n:064x}", size=1)
        for n, url in enumerate(urls)
    )  # fmt: skip
    layer = SimpleNamespace(wheels={"linux/amd64": wheels})
    return SimpleNamespace(
        wheel_layers=[layer], lock_text="x", lock_name="pylock.cpu.toml", variant="cpu"
    )


def test_sbom_download_locations_are_what_spdx_tools_accepts() -> None:
    plan = a_plan(
        "https://files.pythonhosted.org/packages/pkg0-1.0-py3-none-any.whl",
        "http://alice:s3cret@pypi.corp.example:8080/files/pkg1-1.0-py3-none-any.whl",
        "http://10.0.0.5:8080/files/pkg2-1.0-py3-none-any.whl",
        "http://localhost:3141/root/pypi/pkg3-1.0-py3-none-any.whl",
        "",
    )
    document = spdx(plan, ["linux/amd64"], epoch=315532800)
    assert spdx_errors(document) == []
    packages = json.loads(document)["packages"]
    locations = [(p["downloadLocation"], p.get("sourceInfo")) for p in packages]
    assert locations == [
        ("https://files.pythonhosted.org/packages/pkg0-1.0-py3-none-any.whl", None),
        ("http://pypi.corp.example:8080/files/pkg1-1.0-py3-none-any.whl", None),
        ("NOASSERTION", "downloaded from http://10.0.0.5:8080/files/pkg2-1.0-py3-none-any.whl"),
        (
            "NOASSERTION",
            "downloaded from http://localhost:3141/root/pypi/pkg3-1.0-py3-none-any.whl",
        ),
        ("NOASSERTION", None),
    ]


def test_an_image_with_no_python_package_has_an_sbom_spdx_tools_accepts() -> None:
    """System packages only (ffmpeg): the document still describes something."""
    document = spdx(a_plan(), ["linux/amd64"], epoch=0)
    assert spdx_errors(document) == []
    (package,) = json.loads(document)["packages"]
    assert package["name"] == "pylock.cpu.toml"


def test_spdx_tools_refuses_a_broken_sbom() -> None:
    document = json.loads(spdx(a_plan("https://example.org/pkg0.whl"), ["linux/amd64"], epoch=0))
    document["packages"][0]["downloadLocation"] = "http://10.0.0.5/pkg0.whl"
    document["packages"][0]["externalRefs"][0]["referenceLocator"] = "pypi/pkg0"
    found = spdx_errors(json.dumps(document).encode())
    assert any("download_location" in e and "10.0.0.5" in e for e in found), found
    assert any("purl" in e and "pypi/pkg0" in e for e in found), found
    document["packages"][0]["versionInf"] = "1.0"  # spdx-tools drops it; the schema does not
    assert any("versionInf" in e for e in spdx_errors(json.dumps(document).encode()))
    del document["dataLicense"]  # refused while parsing
    assert spdx_errors(json.dumps(document).encode()) != []
