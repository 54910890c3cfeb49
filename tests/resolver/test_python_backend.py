"""The pure-Python backend's index access: PEP 691/658, the HTML + range-request path of the
PyPI proxy, the HTTP cache, the parsed-page cache and the warm start, credentials,
offline, determinism."""

from __future__ import annotations

import base64
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from packaging.version import Version

from index_server import PRIVATE_PASSWORD, PRIVATE_USER, IndexServer
from podlock import dns as podlock_dns
from podlock.inputs.discover import discover
from podlock.inputs.indexes import Index
from podlock.paths import cache_dir
from podlock.platforms import Platform
from podlock.reporter import ListReporter
from podlock.resolver.model import ResolveOptions
from podlock.resolver.pipeline import lock
from podlock.resolver.python import pages
from podlock.resolver.python.backend import PythonBackend
from podlock.resolver.python.http_cache import HttpClient, Response
from podlock.resolver.python.metadata import wheel_metadata
from podlock.resolver.python.pages import ProjectPages
from testkit import fixture_config


def project(tmp_path: Path, index: IndexServer, requirements: str, extra: str = "") -> Path:
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "requirements.txt").write_text(requirements)
    (root / "podlock.toml").write_text(fixture_config(index, extra))
    return root


def run(root: Path, mode: ResolveOptions | None = None) -> tuple[PythonBackend, ListReporter]:
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
    backend, _ = run(root, ResolveOptions(upgrade=True))
    assert backend.metadata is not None
    assert set(backend.metadata.sources.values()) == {"cache"}
    assert html_index.counters["range"] == 0
    assert not [r for r in html_index.requests if "/files/" in r.path]


def test_offline_uses_only_the_cache(tmp_path: Path, index: IndexServer) -> None:
    root = project(tmp_path, index, "flax\n", 'variants = ["cpu"]\n')
    run(root)
    index.clear_log()
    run(root, ResolveOptions(offline=True, upgrade=True))
    assert index.counters["requests"] == 0


def test_credentials_are_used_and_never_shown(tmp_path: Path, index: IndexServer) -> None:
    reqs = f"--extra-index-url {index.url('private', auth=True)}\nsecretpkg\n"
    root = project(tmp_path, index, reqs, 'variants = ["cpu"]\n')
    _, reporter = run(root)
    assert index.counters["auth:ok"] > 0 and index.counters["auth:bad"] == 0
    text = (root / "pylock.cpu.toml").read_text()
    assert "secretpkg" in text and PRIVATE_PASSWORD not in text
    assert not any(PRIVATE_PASSWORD in m for m in [*reporter.infos, *reporter.warnings])


def test_credentials_never_reach_the_cache(tmp_path: Path, index: IndexServer) -> None:
    reqs = f"--extra-index-url {index.url('private', auth=True)}\nsecretpkg\n"
    root = project(tmp_path, index, reqs, 'variants = ["cpu"]\n')
    run(root)
    run(root, ResolveOptions(upgrade=True))
    header = base64.b64encode(f"{PRIVATE_USER}:{PRIVATE_PASSWORD}".encode())
    files = [p for p in cache_dir().rglob("*") if p.is_file()]
    assert any(p.parent.name == "consulted" for p in files)
    for path in files:
        data = path.read_bytes()
        assert PRIVATE_PASSWORD.encode() not in data and header not in data, path


def test_a_warm_run_asks_for_every_page_up_front_and_once(
    tmp_path: Path, html_index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path, html_index, "flax\nrequests[socks]\n")
    run(root)
    html_index.clear_log()
    events: list[tuple[str, str]] = []
    warm, prefetch = ProjectPages.warm, ProjectPages.prefetch

    def spy_warm(self: ProjectPages, index: Index, name: str) -> None:
        events.append(("warm", name))
        warm(self, index, name)

    def spy_prefetch(self: ProjectPages, index: Index, name: str) -> Any:
        events.append(("prefetch", name))
        return prefetch(self, index, name)

    monkeypatch.setattr(ProjectPages, "warm", spy_warm)
    monkeypatch.setattr(ProjectPages, "prefetch", spy_prefetch)
    backend, _ = run(root, ResolveOptions(upgrade=True))
    fetched = [r.path for r in html_index.requests if "/simple/" in r.path]
    assert fetched and len(fetched) == len(set(fetched))  # no page twice
    first_asked = events.index(next(e for e in events if e[0] == "prefetch"))
    warmed = {name for kind, name in events[:first_asked] if kind == "warm"}
    # Every page was on its way before the resolution asked for its first one.
    assert {p.rstrip("/").rsplit("/", 1)[-1] for p in fetched} == warmed
    # The metadata came with the memory of the last run: not a file was read.
    assert not [r for r in html_index.requests if "/files/" in r.path]
    assert backend.metadata is not None and set(backend.metadata.sources.values()) == {"cache"}


def test_corrupt_cache_entries_are_ignored_and_rebuilt(
    tmp_path: Path, html_index: IndexServer
) -> None:
    root = project(tmp_path, html_index, "flax\n", 'variants = ["tpu"]\n')
    run(root)
    first = (root / "pylock.tpu.toml").read_bytes()
    cache = cache_dir() / "python-resolver"
    parsed = sorted((cache / "parsed").glob("*.marshal"))
    good = {p: p.read_bytes() for p in parsed}
    assert parsed
    for i, path in enumerate(parsed):
        data = good[path]
        flipped = data[:100] + bytes([data[100] ^ 1]) + data[101:]
        path.write_bytes([data[: len(data) // 2], flipped, b""][i % 3])
    for path in (cache / "consulted").glob("*.json"):
        path.write_text('{"pages": [["x"]], "metadata": 1}')
    run(root, ResolveOptions(upgrade=True))
    assert (root / "pylock.tpu.toml").read_bytes() == first
    assert {p: p.read_bytes() for p in parsed} == good


def test_same_inputs_give_identical_bytes(tmp_path: Path, index: IndexServer) -> None:
    root = project(tmp_path, index, "flax\nrequests[socks]\ntorchvision\n")
    run(root)
    first = {p.name: p.read_bytes() for p in root.glob("pylock.*.toml")}
    run(root, ResolveOptions(upgrade=True))
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


class _Page(BaseHTTPRequestHandler):
    body: ClassVar[bytes] = b""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def _listing(*versions: str) -> bytes:
    return "".join(
        f'<a href="/files/pkg-{v}-py3-none-any.whl#sha256={"0" * 64}">pkg-{v}</a>\n'
        for v in versions
    ).encode()


def test_a_changed_page_is_seen_and_an_unchanged_one_is_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    index = Index(name="pypi", url=f"http://127.0.0.1:{server.server_address[1]}/simple")
    target = ("3.12", (Platform("linux", "amd64"),))

    def versions() -> list[Version]:
        with ThreadPoolExecutor(2) as pool:
            http = HttpClient(cache=tmp_path / "pages")
            page = ProjectPages(http, pool, tmp_path / "parsed").get(index, "pkg")
        assert page is not None
        return [r.version for r in page.releases(*target)]

    try:
        _Page.body = _listing("1.0")
        assert versions() == [Version("1.0")]
        with monkeypatch.context() as patch:
            patch.setattr(pages, "parse_page", None)  # a parse would fail
            assert versions() == [Version("1.0")]
        _Page.body = _listing("1.0", "2.0")
        assert versions() == [Version("2.0"), Version("1.0")]
    finally:
        server.shutdown()
        server.server_close()


def test_an_unchanged_page_is_not_written_again(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _Page.body = _listing("1.0")
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/pkg/"
        HttpClient(cache=tmp_path).get(url, cached=True)
        before = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
        again = HttpClient(cache=tmp_path).get(url, cached=True)
        assert again.body == _Page.body and not again.from_cache
        assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
    finally:
        server.shutdown()
        server.server_close()


def test_connections_share_one_address_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lookups: list[str] = []
    real = socket.getaddrinfo

    def counted(host: str, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counted)
    monkeypatch.setattr(podlock_dns, "_addresses", {})
    try:
        _Page.body = b"x"
        client = HttpClient()
        url = f"http://localhost:{server.server_address[1]}/simple/pkg/"
        with ThreadPoolExecutor(8) as pool:  # eight threads: eight connections
            bodies = list(pool.map(lambda _: client.get(url).body, range(8)))
        assert bodies == [b"x"] * 8
        names = [h for h in lookups if not h[:1].isdigit()]  # an address literal is no lookup
        assert names == ["localhost"]
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
