"""The pure-Python backend's index access: PEP 691/658, the HTML + range-request path of the
PyPI proxy, the HTTP cache, credentials, offline, determinism."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from index_server import PRIVATE_PASSWORD, IndexServer
from podlock.project import discover
from podlock.reporter import ListReporter
from podlock.resolver.model import Mode
from podlock.resolver.pipeline import lock
from podlock.resolver.python import PythonBackend
from podlock.resolver.python.http_cache import HttpClient, Response
from podlock.resolver.python.metadata import wheel_metadata
from testkit import fixture_config


def project(tmp_path: Path, index: IndexServer, requirements: str, extra: str = "") -> Path:
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "requirements.txt").write_text(requirements)
    (root / "podlock.toml").write_text(fixture_config(index, extra))
    return root


def run(root: Path, mode: Mode | None = None) -> tuple[PythonBackend, ListReporter]:
    backend, reporter = PythonBackend(), ListReporter()
    inputs = discover(root)
    lock(inputs, list(inputs.config.variants), backend=backend, mode=mode, reporter=reporter)
    return backend, reporter


@pytest.fixture
def html_index(index_dir: Path) -> Iterator[IndexServer]:
    with IndexServer(index_dir, html_only=True) as server:
        yield server


def test_json_api_and_pep658_metadata_download_no_wheel(tmp_path: Path, index: IndexServer) -> None:
    index.clear_log()
    backend, _ = run(project(tmp_path, index, "flax\nbigpkg\n", 'variants = ["tpu"]\n'))
    assert index.counters["format:json"] > 0 and index.counters["format:html"] == 0
    whole = [r.path for r in index.requests if r.method == "GET" and "range" not in r.headers]
    files = [p for p in whole if "/files/" in p]
    assert files and all(p.endswith(".metadata") for p in files)
    assert backend.metadata is not None
    # bigpkg publishes no PEP 658 file: its 2 MiB wheel is read with ranges, not fetched.
    assert backend.metadata.sources["bigpkg-1.0-py3-none-any.whl"] == "range"
    assert index.counters["range"] >= 1


def test_html_only_proxy_reads_metadata_with_range_requests(
    tmp_path: Path, html_index: IndexServer
) -> None:
    backend, _ = run(project(tmp_path, html_index, "flax\nbigpkg\n", 'variants = ["tpu"]\n'))
    assert html_index.counters["format:json"] == 0
    assert html_index.counters["metadata"] == 0
    assert backend.metadata is not None
    assert set(backend.metadata.sources.values()) == {"range"}
    wheel_gets = [r for r in html_index.requests if r.method == "GET" and r.path.endswith(".whl")]
    assert wheel_gets and all("range" in r.headers for r in wheel_gets)


def test_a_warm_run_reads_metadata_from_the_cache(tmp_path: Path, html_index: IndexServer) -> None:
    root = project(tmp_path, html_index, "flax\n", 'variants = ["tpu"]\n')
    run(root)
    html_index.clear_log()
    backend, _ = run(root, Mode(upgrade=True))
    assert backend.metadata is not None
    assert set(backend.metadata.sources.values()) == {"cache"}
    assert html_index.counters["range"] == 0
    assert not [r for r in html_index.requests if "/files/" in r.path]


def test_offline_uses_only_the_cache(tmp_path: Path, index: IndexServer) -> None:
    root = project(tmp_path, index, "flax\n", 'variants = ["cpu"]\n')
    run(root)
    index.clear_log()
    run(root, Mode(offline=True, upgrade=True))
    assert index.counters["requests"] == 0


def test_credentials_are_used_and_never_shown(tmp_path: Path, index: IndexServer) -> None:
    reqs = f"--extra-index-url {index.url('private', auth=True)}\nsecretpkg\n"
    root = project(tmp_path, index, reqs, 'variants = ["cpu"]\n')
    _, reporter = run(root)
    assert index.counters["auth:ok"] > 0 and index.counters["auth:bad"] == 0
    text = (root / "pylock.cpu.toml").read_text()
    assert "secretpkg" in text and PRIVATE_PASSWORD not in text
    assert not any(PRIVATE_PASSWORD in m for m in [*reporter.infos, *reporter.warnings])


def test_same_inputs_give_identical_bytes(tmp_path: Path, index: IndexServer) -> None:
    root = project(tmp_path, index, "flax\nrequests[socks]\ntorchvision\n")
    run(root)
    first = {p.name: p.read_bytes() for p in root.glob("pylock.*.toml")}
    run(root, Mode(upgrade=True))
    assert {p.name: p.read_bytes() for p in root.glob("pylock.*.toml")} == first


def test_a_conflict_names_who_asked_for_what(tmp_path: Path, index: IndexServer) -> None:
    reqs = "jax==0.7.0  # kn:keep\nflax\njaxlib==0.6.2  # kn:keep\n"
    root = project(tmp_path, index, reqs, 'variants = ["cpu"]\n')
    from podlock.errors import ResolutionError

    with pytest.raises(ResolutionError) as info:
        run(root)
    text = str(info.value)
    assert "your requirements requires jaxlib==0.6.2" in text
    assert "jax 0.7.0 requires jaxlib<=0.7.0,>=0.7.0" in text


# -- the HTTP layer on its own ----------------------------------------------


class _Revalidating(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.hits.append(
            self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since") or ""
        )
        if (
            self.headers.get("If-None-Match") == '"v1"'
            or self.headers.get("If-Modified-Since") == "Mon, 01 Jan 2024 00:00:00 GMT"
        ):
            self.send_response(304)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"page"
        self.send_response(200)
        if self.path.startswith("/etag"):
            self.send_header("ETag", '"v1"')
        else:
            self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("path", ["/etag/x/", "/lastmod/x/"])
def test_pages_are_revalidated_not_refetched(tmp_path: Path, path: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Revalidating)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}{path}"
        _Revalidating.hits = []
        first = HttpClient(cache=tmp_path).get(url, cached=True)
        second = HttpClient(cache=tmp_path).get(url, cached=True)
        assert (first.body, first.from_cache) == (b"page", False)
        assert (second.body, second.from_cache) == (b"page", True)
        assert _Revalidating.hits[0] == "" and _Revalidating.hits[1] != ""
    finally:
        server.shutdown()
        server.server_close()


class _NoRanges:
    """An HTTP client whose server ignores Range: the whole file comes back."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls = 0

    def get_range(self, url: str, start: int, end: int | None = None) -> Response:
        self.calls += 1
        return Response(status=200, body=self.data, headers={}, url=url)

    def get(self, url: str, **_: Any) -> Response:
        self.calls += 1
        return Response(status=200, body=self.data, headers={}, url=url)


def test_a_server_without_ranges_falls_back_to_one_download() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pkg-1.0.dist-info/METADATA", "Name: pkg\nRequires-Dist: idna\n")
    client = _NoRanges(buffer.getvalue())
    text, how = wheel_metadata(client, "http://x/pkg-1.0-py3-none-any.whl")  # type: ignore[arg-type]
    assert "Requires-Dist: idna" in text
    assert (how, client.calls) == ("download", 1)
