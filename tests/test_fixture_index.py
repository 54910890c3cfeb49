"""Tests for the hermetic fixture index (fixtures/index/make_index.py) and its
HTTP server (tests/index_server.py), including end-to-end runs of uv against it.

Everything is offline: uv only ever talks to the local server, and proxy
variables pointing at a closed port make any other connection fail fast.
"""

from __future__ import annotations

import base64
import email.parser
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import uv
from packaging.metadata import Metadata
from packaging.requirements import Requirement
from packaging.utils import (
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

_TESTS_DIR = Path(__file__).resolve().parent
if str(_TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(_TESTS_DIR))

from index_server import (  # noqa: E402
    JSON_CONTENT_TYPE,
    PRIVATE_PASSWORD,
    PRIVATE_USER,
    IndexServer,
)

MAKE_INDEX = _TESTS_DIR.parent / "fixtures" / "index" / "make_index.py"
INDEXES = ("pypi", "cpu", "cu121", "private")
JSON_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)


def _load_build_index() -> Callable[[Path], None]:
    spec = importlib.util.spec_from_file_location("podlock_fixture_make_index", MAKE_INDEX)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    build: Callable[[Path], None] = module.build_index
    return build


build_index = _load_build_index()


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fixture-index")
    build_index(out)
    return out


@pytest.fixture(scope="module")
def server(index_dir: Path) -> Iterator[IndexServer]:
    with IndexServer(index_dir) as srv:
        yield srv


@pytest.fixture(scope="module")
def html_server(index_dir: Path) -> Iterator[IndexServer]:
    with IndexServer(index_dir, html_only=True) as srv:
        yield srv


@pytest.fixture(scope="module")
def uv_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for hermetic uv runs (no config, no downloads, no internet)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("UV_", "PIP_", "VIRTUAL_ENV", "CONDA_"))
        and key.lower() not in {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    }
    dead_proxy = "http://127.0.0.1:9"
    env.update(
        {
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_CONFIG": "1",
            "UV_CACHE_DIR": str(tmp_path_factory.mktemp("uv-cache")),
            "UV_LINK_MODE": "copy",
            "UV_HTTP_RETRIES": "0",
            "UV_NO_PROGRESS": "1",
            "HTTP_PROXY": dead_proxy,
            "HTTPS_PROXY": dead_proxy,
            "ALL_PROXY": dead_proxy,
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    return env


def _uv(
    env: Mapping[str, str], *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [uv.find_uv_bin(), *args],
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"uv {' '.join(args)} failed ({result.returncode})\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def _compile(
    env: Mapping[str, str],
    index_url: str,
    requirements: list[str],
    *,
    platform: str = "x86_64-manylinux_2_28",
    python_version: str = "3.12",
    extra: tuple[str, ...] = (),
    check: bool = True,
) -> tuple[dict[str, str], subprocess.CompletedProcess[str]]:
    result = _uv(
        env,
        "pip",
        "compile",
        "-",
        "--no-cache",
        "--no-header",
        "--no-annotate",
        "--index-url",
        index_url,
        "--python-version",
        python_version,
        "--python-platform",
        platform,
        *extra,
        stdin="\n".join(requirements) + "\n",
        check=check,
    )
    pins: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            pins[name] = version
    return pins, result


def _manifest(index_dir: Path, index: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((index_dir / index / "packages.json").read_text())
    return data


def _get(
    url: str, headers: Mapping[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=dict(headers or {}), method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# --------------------------------------------------------------------------
# the generated files
# --------------------------------------------------------------------------


def _wheel_metadata(archive: zipfile.ZipFile) -> tuple[str, bytes]:
    dist_infos = {name.split("/")[0] for name in archive.namelist() if ".dist-info/" in name}
    assert len(dist_infos) == 1, dist_infos
    dist_info = dist_infos.pop()
    return dist_info, archive.read(f"{dist_info}/METADATA")


def test_wheels_are_valid(index_dir: Path) -> None:
    checked = 0
    for index in INDEXES:
        for entry in _manifest(index_dir, index)["files"]:
            path = index_dir / index / entry["filename"]
            data = path.read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert len(data) == entry["size"]
            if entry["kind"] != "wheel":
                continue
            name, version, _build, tags = parse_wheel_filename(entry["filename"])
            assert name == canonicalize_name(entry["project"])
            assert str(version) == entry["version"]
            with zipfile.ZipFile(path) as archive:
                assert archive.testzip() is None
                dist_info, metadata_bytes = _wheel_metadata(archive)
                metadata = Metadata.from_email(metadata_bytes, validate=True)
                assert metadata.metadata_version == "2.1"
                assert canonicalize_name(metadata.name) == name
                assert metadata.version == version
                if entry["requires-python"] is not None:
                    assert str(metadata.requires_python) == entry["requires-python"]

                wheel = email.parser.Parser().parsestr(archive.read(f"{dist_info}/WHEEL").decode())
                assert wheel["Wheel-Version"] == "1.0"
                assert set(wheel.get_all("Tag") or []) == {str(tag) for tag in tags}
                assert wheel["Root-Is-Purelib"] == (
                    "true" if all(t.platform == "any" for t in tags) else "false"
                )

                record_lines = archive.read(f"{dist_info}/RECORD").decode().splitlines()
                recorded = {line.rsplit(",", 2)[0] for line in record_lines}
                assert recorded == set(archive.namelist())
                for line in record_lines:
                    member, digest, size = line.rsplit(",", 2)
                    if member.endswith("/RECORD"):
                        assert digest == size == ""
                        continue
                    content = archive.read(member)
                    expected = base64.urlsafe_b64encode(hashlib.sha256(content).digest())
                    assert digest == "sha256=" + expected.rstrip(b"=").decode()
                    assert int(size) == len(content)

                top_level = {n.split("/")[0] for n in archive.namelist()} - {dist_info}
                assert len(top_level) == 1, top_level
                (package,) = top_level
                init = archive.read(f"{package}/__init__.py").decode()
                assert f'__version__ = "{entry["version"]}"' in init or package == "fixture_backend"

            sidecar = index_dir / index / f"{entry['filename']}.metadata"
            if entry["metadata"]:
                assert sidecar.read_bytes() == metadata_bytes
                assert hashlib.sha256(metadata_bytes).hexdigest() == entry["metadata-sha256"]
            else:
                assert not sidecar.exists()
                assert entry["metadata-sha256"] is None
            checked += 1
    assert checked > 80


def test_sdists_are_valid(index_dir: Path) -> None:
    sdists = [e for e in _manifest(index_dir, "pypi")["files"] if e["kind"] == "sdist"]
    assert {e["filename"] for e in sdists} == {
        "numpy-1.26.4.tar.gz",
        "numpy-2.1.0.tar.gz",
        "sdistonly-1.0.tar.gz",
        "sdist_and_wheel-1.0.tar.gz",
    }
    for entry in sdists:
        name, version = parse_sdist_filename(entry["filename"])
        stem = entry["filename"].removesuffix(".tar.gz")
        with tarfile.open(index_dir / "pypi" / entry["filename"]) as archive:
            members = archive.getmembers()
            assert all(m.name.startswith(f"{stem}/") for m in members)
            assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members)
            pkg_info = archive.extractfile(f"{stem}/PKG-INFO")
            pyproject = archive.extractfile(f"{stem}/pyproject.toml")
            assert pkg_info is not None and pyproject is not None
            raw_metadata = pkg_info.read()
            metadata = Metadata.from_email(raw_metadata, validate=True)
            project = tomllib.loads(pyproject.read().decode())
        assert metadata.metadata_version == "2.2"
        assert b"Dynamic:" not in raw_metadata
        assert canonicalize_name(metadata.name) == name
        assert metadata.version == version
        assert project["build-system"] == {
            "requires": ["fixture-backend"],
            "build-backend": "fixture_backend",
        }
        assert project["project"]["version"] == str(version)
        assert "dynamic" not in project["project"]
    sdistonly = Metadata.from_email(
        _read_tar_member(index_dir / "pypi" / "sdistonly-1.0.tar.gz", "sdistonly-1.0/PKG-INFO")
    )
    assert [str(r) for r in sdistonly.requires_dist or []] == ["idna"]


def _read_tar_member(path: Path, member: str) -> bytes:
    with tarfile.open(path) as archive:
        handle = archive.extractfile(member)
        assert handle is not None
        return handle.read()


def test_catalogue_details(index_dir: Path) -> None:
    def files(index: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = _manifest(index_dir, index)["files"]
        return result

    def wheel_requires(index: str, filename: str) -> list[Requirement]:
        with zipfile.ZipFile(index_dir / index / filename) as archive:
            metadata = Metadata.from_email(_wheel_metadata(archive)[1])
        return list(metadata.requires_dist or [])

    jax = {str(r) for r in wheel_requires("pypi", "jax-0.6.2-py3-none-any.whl")}
    assert "jaxlib<=0.6.2,>=0.6.2" in jax
    assert 'libtpu==0.0.17; extra == "tpu"' in jax
    assert 'jax-cuda12-plugin[with-cuda]==0.6.2; extra == "cuda12"' in jax
    jax7 = {str(r) for r in wheel_requires("pypi", "jax-0.7.0-py3-none-any.whl")}
    assert 'libtpu==0.0.20; extra == "tpu"' in jax7

    libtpu = [e["filename"] for e in files("pypi") if e["project"] in {"libtpu", "libtpu-nightly"}]
    assert libtpu and all(f.endswith("-py3-none-manylinux_2_31_x86_64.whl") for f in libtpu)

    numpy_wheels = {
        e["filename"] for e in files("pypi") if e["project"] == "numpy" and e["kind"] == "wheel"
    }
    assert len(numpy_wheels) == 2 * 2 * 3  # versions x pythons x platforms
    assert "numpy-2.1.0-cp312-cp312-macosx_11_0_arm64.whl" in numpy_wheels

    assert {e["project"] for e in files("cpu")} == {"torch", "torchvision", "torchaudio"}
    assert {e["version"] for e in files("cpu")} == {"2.4.0+cpu", "0.19.0+cpu"}
    audio = {e["version"] for e in files("pypi") if e["project"] == "torchaudio"}
    assert audio == {"2.3.0", "2.4.0"}  # 2.3.0 only on PyPI: a routing error to name
    cu121 = files("cu121")
    assert {e["project"] for e in cu121} == {"torch"}
    assert all("manylinux" in e["filename"] for e in cu121) and len(cu121) == 4
    assert {e["project"] for e in files("private")} == {"secretpkg"}

    yanked = {e["version"]: e["yanked"] for e in files("pypi") if e["project"] == "yankee"}
    assert yanked == {"1.0": False, "2.0": "broken"}

    with zipfile.ZipFile(index_dir / "pypi" / "flax-0.10.0-py3-none-any.whl") as archive:
        entry_points = archive.read("flax-0.10.0.dist-info/entry_points.txt").decode()
    assert "flax-hello = flax:main" in entry_points

    with zipfile.ZipFile(index_dir / "pypi" / "bigpkg-1.0-py3-none-any.whl") as archive:
        blob = archive.getinfo("bigpkg/blob.bin")
    assert blob.file_size == 2 * 1024 * 1024
    assert blob.compress_size > 0.99 * blob.file_size  # incompressible


def test_generation_is_deterministic(tmp_path: Path, index_dir: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    build_index(first)
    build_index(second)

    def snapshot(root: Path) -> dict[str, bytes]:
        return {
            str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }

    a, b = snapshot(first), snapshot(second)
    assert a.keys() == b.keys()
    assert a == b
    assert a == snapshot(index_dir)

    wheel = first / "pypi" / "jax-0.7.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        infos = archive.infolist()
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
    assert all(i.external_attr >> 16 == 0o100644 for i in infos)
    assert infos[-1].filename.endswith(".dist-info/RECORD")
    gz = (first / "pypi" / "sdistonly-1.0.tar.gz").read_bytes()
    assert gz[4:8] == b"\0\0\0\0"  # gzip mtime


# --------------------------------------------------------------------------
# the server, over raw HTTP
# --------------------------------------------------------------------------


def test_simple_api_json_and_html(server: IndexServer, index_dir: Path) -> None:
    status, headers, body = _get(f"{server.url()}/jax/", {"Accept": JSON_ACCEPT})
    assert status == 200
    assert headers["Content-Type"] == JSON_CONTENT_TYPE
    page = json.loads(body)
    assert page["meta"]["api-version"] in {"1.0", "1.1"}
    assert page["name"] == "jax"
    assert page["versions"] == ["0.6.2", "0.7.0"]
    by_name = {f["filename"]: f for f in page["files"]}
    jax = by_name["jax-0.7.0-py3-none-any.whl"]
    manifest = {f["filename"]: f for f in _manifest(index_dir, "pypi")["files"]}
    assert jax["hashes"] == {"sha256": manifest[jax["filename"]]["sha256"]}
    assert jax["size"] == manifest[jax["filename"]]["size"]
    assert jax["requires-python"] == ">=3.11"
    assert jax["yanked"] is False
    metadata_hash = {"sha256": manifest[jax["filename"]]["metadata-sha256"]}
    assert jax["core-metadata"] == jax["data-dist-info-metadata"] == metadata_hash
    assert jax["url"] == server.file_url("pypi", jax["filename"])

    yankee = json.loads(_get(f"{server.url()}/yankee/", {"Accept": JSON_ACCEPT})[2])
    assert {f["filename"]: f["yanked"] for f in yankee["files"]} == {
        "yankee-1.0-py3-none-any.whl": False,
        "yankee-2.0-py3-none-any.whl": "broken",
    }
    bigpkg = json.loads(_get(f"{server.url()}/bigpkg/", {"Accept": JSON_ACCEPT})[2])
    assert bigpkg["files"][0]["core-metadata"] is False

    status, headers, body = _get(f"{server.url()}/jax/", {"Accept": "text/html"})
    assert status == 200 and headers["Content-Type"].startswith(("text/html", "application/"))
    html = body.decode()
    sha = manifest["jax-0.7.0-py3-none-any.whl"]["sha256"]
    assert f"jax-0.7.0-py3-none-any.whl#sha256={sha}" in html
    assert 'data-requires-python="&gt;=3.11"' in html
    assert "data-core-metadata=" in html and "data-dist-info-metadata=" in html
    yankee_html = _get(f"{server.url()}/yankee/")[2].decode()
    assert 'data-yanked="broken"' in yankee_html

    root = json.loads(_get(f"{server.url()}/", {"Accept": JSON_ACCEPT})[2])
    assert {"name": "jax"} in root["projects"]
    assert '<a href="jax/">jax</a>' in _get(f"{server.url()}/")[2].decode()
    formatted = _get(f"{server.url()}/jax/?format={quote(JSON_CONTENT_TYPE)}")
    assert formatted[1]["Content-Type"] == JSON_CONTENT_TYPE

    metadata = _get(server.file_url("pypi", "jax-0.7.0-py3-none-any.whl") + ".metadata")
    assert metadata[0] == 200
    assert hashlib.sha256(metadata[2]).hexdigest() == metadata_hash["sha256"]
    assert _get(server.file_url("pypi", "bigpkg-1.0-py3-none-any.whl") + ".metadata")[0] == 404


def test_redirects_and_404(server: IndexServer) -> None:
    opener = urllib.request.build_opener(_NoRedirect)
    for path, location in [
        ("/pypi/simple/ML_Dtypes/", "/pypi/simple/ml-dtypes/"),
        ("/pypi/simple/ml-dtypes", "/pypi/simple/ml-dtypes/"),
        ("/pypi/simple", "/pypi/simple/"),
    ]:
        with pytest.raises(urllib.error.HTTPError) as info:
            opener.open(server.base_url + path, timeout=10)
        assert info.value.code == 301
        assert info.value.headers["Location"] == location
    status, _, body = _get(f"{server.url()}/ML_Dtypes/", {"Accept": JSON_ACCEPT})
    assert status == 200 and json.loads(body)["name"] == "ml-dtypes"
    assert _get(f"{server.url()}/no-such-project/")[0] == 404
    assert _get(f"{server.base_url}/nope/simple/")[0] == 404
    assert _get(server.file_url("pypi", "nope-1.0.tar.gz"))[0] == 404


def test_head_and_range_requests(server: IndexServer, index_dir: Path) -> None:
    filename = "bigpkg-1.0-py3-none-any.whl"
    data = (index_dir / "pypi" / filename).read_bytes()
    url = server.file_url("pypi", filename)

    status, headers, body = _get(url, method="HEAD")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == len(data)
    assert headers["Accept-Ranges"] == "bytes"

    status, headers, body = _get(url, {"Range": "bytes=100-199"})
    assert status == 206 and body == data[100:200]
    assert headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert int(headers["Content-Length"]) == 100

    status, headers, body = _get(url, {"Range": "bytes=-1000"})
    assert status == 206 and body == data[-1000:]
    assert headers["Content-Range"] == f"bytes {len(data) - 1000}-{len(data) - 1}/{len(data)}"

    status, _, body = _get(url, {"Range": f"bytes={len(data) - 10}-"})
    assert status == 206 and body == data[-10:]
    status, _, body = _get(url, {"Range": f"bytes=0-{len(data) * 2}"})
    assert status == 206 and body == data

    status, headers, _ = _get(url, {"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"

    status, _, body = _get(url, {"Range": "bytes=0-1,5-9"})  # multi-range: whole file
    assert status == 200 and body == data

    # non-ASCII-safe file names ("+" in local versions) are quoted in URLs
    torch = "torch-2.4.0+cpu-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert "%2B" in server.file_url("cpu", torch)
    status, _, body = _get(server.file_url("cpu", torch))
    assert status == 200 and body == (index_dir / "cpu" / torch).read_bytes()


def test_html_only_mode(html_server: IndexServer) -> None:
    status, headers, body = _get(f"{html_server.url()}/jax/", {"Accept": JSON_ACCEPT})
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    html = body.decode()
    assert "#sha256=" in html
    assert "data-core-metadata" not in html and "data-dist-info-metadata" not in html
    assert 'data-requires-python="&gt;=3.10"' in html
    assert _get(f"{html_server.url()}/jax/?format={quote(JSON_CONTENT_TYPE)}")[1][
        "Content-Type"
    ].startswith("text/html")
    metadata_url = html_server.file_url("pypi", "jax-0.7.0-py3-none-any.whl") + ".metadata"
    assert _get(metadata_url)[0] == 404
    assert _get(html_server.file_url("pypi", "jax-0.7.0-py3-none-any.whl"))[0] == 200


def test_basic_auth(server: IndexServer) -> None:
    url = f"{server.url('private')}/secretpkg/"
    status, headers, _ = _get(url)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    token = base64.b64encode(f"{PRIVATE_USER}:{PRIVATE_PASSWORD}".encode()).decode()
    status, _, body = _get(url, {"Authorization": f"Basic {token}"})
    assert status == 200 and b"secretpkg-1.0-py3-none-any.whl" in body
    wrong = base64.b64encode(f"{PRIVATE_USER}:nope".encode()).decode()
    assert _get(url, {"Authorization": f"Basic {wrong}"})[0] == 401
    file_url = server.file_url("private", "secretpkg-1.0-py3-none-any.whl")
    assert _get(file_url)[0] == 401
    assert _get(file_url, {"Authorization": f"Basic {token}"})[0] == 200
    assert server.url("private", auth=True).startswith(
        f"http://{PRIVATE_USER}:{PRIVATE_PASSWORD}@127.0.0.1:"
    )
    # credentials never end up in the request log
    assert all("authorization" not in r.headers for r in server.requests)
    assert server.counters["auth:ok"] >= 2
    assert _get(f"{server.url()}/jax/")[0] == 200  # other indexes stay public


# --------------------------------------------------------------------------
# uv against the server
# --------------------------------------------------------------------------

TPU_PLATFORM = "x86_64-manylinux_2_31"  # libtpu only ships manylinux_2_31 wheels
EXPECTED_TPU = {
    "flax": "0.10.0",
    "jax": "0.7.0",
    "jaxlib": "0.7.0",
    "libtpu": "0.0.20",
    "ml-dtypes": "0.5.0",
    "msgpack": "1.1.0",
    "numpy": "2.1.0",
    "requests": "2.32.3",
    "urllib3": "2.2.3",
    "idna": "3.10",
}


@pytest.mark.parametrize("mode", ["json", "html_only"])
def test_uv_pip_compile(
    mode: str, server: IndexServer, html_server: IndexServer, uv_env: dict[str, str]
) -> None:
    srv = server if mode == "json" else html_server
    srv.clear_log()
    pins, _ = _compile(uv_env, srv.url(), ["flax"])
    assert pins == {
        "flax": "0.10.0",
        "jax": "0.7.0",
        "jaxlib": "0.7.0",
        "ml-dtypes": "0.5.0",
        "msgpack": "1.1.0",
        "numpy": "2.1.0",
    }
    pins, _ = _compile(uv_env, srv.url(), ["flax", "jax[tpu]"], platform=TPU_PLATFORM)
    assert pins == EXPECTED_TPU
    counters = srv.counters
    if mode == "json":
        assert counters["format:json"] > 0 and counters["format:html"] == 0
        assert counters["metadata"] > 0 and counters["range"] == 0
    else:
        assert counters["format:json"] == 0 and counters["format:html"] > 0
        assert counters["metadata"] == 0
    assert counters["status:404"] == 0


def test_uv_tpu_extra_needs_manylinux_2_31(server: IndexServer, uv_env: dict[str, str]) -> None:
    _, result = _compile(
        uv_env, server.url(), ["jax[tpu]"], platform="x86_64-manylinux_2_28", check=False
    )
    assert result.returncode != 0
    assert "libtpu" in result.stderr and "manylinux_2_31_x86_64" in result.stderr
    pins, _ = _compile(uv_env, server.url(), ["jax[tpu]==0.6.2"], platform=TPU_PLATFORM)
    assert pins["libtpu"] == "0.0.17" and pins["jaxlib"] == "0.6.2"
    assert pins["numpy"] == "2.1.0"


def test_uv_yanked_and_prereleases(server: IndexServer, uv_env: dict[str, str]) -> None:
    url = server.url()
    assert _compile(uv_env, url, ["yankee"])[0] == {"yankee": "1.0"}
    assert _compile(uv_env, url, ["prerel"])[0] == {"prerel": "1.0"}
    assert _compile(uv_env, url, ["prerel>=2.0b1"])[0] == {"prerel": "2.0b1"}
    pins, result = _compile(uv_env, url, ["yankee==2.0"])
    assert pins == {"yankee": "2.0"} and "yanked" in result.stderr


def test_uv_accelerator_indexes(server: IndexServer, uv_env: dict[str, str]) -> None:
    pypi = server.url()
    pins, _ = _compile(uv_env, pypi, ["torch"])
    assert pins == {
        "torch": "2.4.0",
        "filelock": "3.16.1",
        "nvidia-cublas-cu12": "12.4.5",
        "nvidia-cudnn-cu12": "9.1.0.70",
    }
    pins, _ = _compile(
        uv_env, pypi, ["torch", "torchvision"], extra=("--extra-index-url", server.url("cpu"))
    )
    assert pins == {"torch": "2.4.0+cpu", "torchvision": "0.19.0+cpu", "filelock": "3.16.1"}
    pins, _ = _compile(uv_env, pypi, ["torch"], extra=("--extra-index-url", server.url("cu121")))
    assert pins == {"torch": "2.4.0+cu121", "filelock": "3.16.1", "nvidia-cublas-cu12": "12.4.5"}
    pins, _ = _compile(uv_env, pypi, ["mdpkg"], platform="aarch64-apple-darwin")
    assert pins == {"mdpkg": "1.0", "uvloop-fake": "0.1", "appnope-fake": "0.1"}


def test_uv_basic_auth(server: IndexServer, uv_env: dict[str, str]) -> None:
    pins, _ = _compile(uv_env, server.url("private", auth=True), ["secretpkg"])
    assert pins == {"secretpkg": "1.0"}
    _, result = _compile(uv_env, server.url("private"), ["secretpkg"], check=False)
    assert result.returncode != 0
    assert "401" in result.stderr


def test_uv_pip_install(server: IndexServer, uv_env: dict[str, str], tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _uv(uv_env, "venv", "--python", sys.executable, str(venv))
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    server.clear_log()
    _uv(
        uv_env,
        "pip",
        "install",
        "--python",
        str(python),
        "--index-url",
        server.url(),
        "jax",
        "flax",
        "sdistonly",
        "requests[socks]",
    )
    # sdistonly has no wheel: uv built it with the fixture backend, offline
    downloaded = server.downloaded()
    assert "sdistonly-1.0.tar.gz" in downloaded
    assert "fixture_backend-1.0-py3-none-any.whl" in downloaded

    script = (
        "import sys, json, jax, jaxlib, flax, numpy, sdistonly, requests, socks, urllib3\n"
        "print(json.dumps({m.__name__: m.__version__ for m in "
        "(jax, jaxlib, flax, numpy, sdistonly, requests, socks, urllib3)}))\n"
        "print(jaxlib.__wheel_tag__)\n"
    )
    result = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    versions_line, tag = result.stdout.splitlines()
    assert json.loads(versions_line) == {
        "jax": "0.7.0",
        "jaxlib": "0.7.0",
        "flax": "0.10.0",
        "numpy": "2.1.0",
        "sdistonly": "1.0",
        "requests": "2.32.3",
        "socks": "1.7.1",
        "urllib3": "2.2.3",
    }
    assert tag.startswith(f"cp{sys.version_info.major}{sys.version_info.minor}-")
    for command, expected in [("flax-hello", "flax 0.10.0"), ("sdistonly-hello", "sdistonly 1.0")]:
        out = subprocess.run(
            [str(bindir / command)], capture_output=True, text=True, check=True, timeout=60
        )
        assert expected in out.stdout
