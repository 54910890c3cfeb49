"""The one HTTP layer: retries through faults, resumed downloads, typed errors, and no other
module speaking HTTP itself."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fault_proxy import Faults, fault_proxy
from index_server import PRIVATE_PASSWORD, IndexServer
from podlock import http as podhttp

SRC = Path(__file__).resolve().parents[1] / "src" / "podlock"
CLIENTS = re.compile(
    r"^\s*(import (requests|urllib3|httpx|http\.client|urllib\.request)\b"
    r"|from (requests|urllib3|httpx|http\.client|urllib\.request)\b|from http import client)",
    re.MULTILINE,
)


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODLOCK_HTTP_BACKOFF", "0.001")
    monkeypatch.setenv("PODLOCK_HTTP_MAX_WAIT", "0.01")
    monkeypatch.setenv("PODLOCK_HTTP_RETRIES", "12")  # half the requests fail below


class Bytes:
    """An in-memory ``http.Sink``."""

    def __init__(self, start: bytes = b"") -> None:
        self.data = bytearray(start)
        self.restarts = 0

    @property
    def size(self) -> int:
        return len(self.data)

    def write(self, data: bytes) -> None:
        self.data += data

    def restart(self) -> None:
        self.data.clear()
        self.restarts += 1


def file_url(host: str) -> str:
    return f"http://{host}/pypi/files/bigpkg-1.0-py3-none-any.whl"


def test_only_the_http_layer_imports_an_http_client() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "http.py" or path.parent != SRC
        if CLIENTS.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], f"HTTP clients used outside podlock/http.py: {offenders}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_download_through_half_failing_requests_is_whole(index: IndexServer, seed: int) -> None:
    whole = podhttp.Client().get(file_url(f"{index.host}:{index.port}"))
    faults = Faults(upstream=f"{index.host}:{index.port}", rate=0.5, seed=seed)
    with fault_proxy(faults), podhttp.Client() as client:
        for _ in range(5):
            sink = Bytes()
            client.download(file_url(faults.address), sink)
            assert bytes(sink.data) == whole
            assert client.get(file_url(faults.address)) == whole
    assert sum(faults.injected.values()) > 0


def test_a_download_resumes_with_range_and_restarts_when_it_is_ignored(
    index: IndexServer, tmp_path: Path
) -> None:
    url = file_url(f"{index.host}:{index.port}")
    whole = podhttp.Client().get(url)
    half = Bytes(whole[: len(whole) // 2])
    podhttp.Client().download(url, half)
    assert bytes(half.data) == whole and half.restarts == 0
    done = Bytes(whole)  # all there already (a cut answer had claimed more): 416, kept
    podhttp.Client().download(url, done)
    assert bytes(done.data) == whole and done.restarts == 0
    (tmp_path / "f.whl").write_bytes(whole)  # SimpleHTTPRequestHandler ignores Range: 200
    with plain_server(tmp_path) as base:
        wrong = Bytes(b"garbage that is not the file's start")
        podhttp.Client().download(f"{base}/f.whl", wrong)
    assert bytes(wrong.data) == whole and wrong.restarts == 1


def test_refusals_and_dead_hosts_are_typed_errors_with_hints(index: IndexServer) -> None:
    client = podhttp.Client(policy=podhttp.Policy(retries=2, backoff=0.001))
    with pytest.raises(podhttp.Refused) as missing:
        client.get(f"{index.base_url}/pypi/files/nope-1.0-py3-none-any.whl")
    assert missing.value.status == 404 and "HTTP 404" in missing.value.message
    assert missing.value.hint and "no such file" in missing.value.hint
    private = index.url("private", auth=False) + "/secretpkg/"
    with pytest.raises(podhttp.Refused) as denied:
        client.get(private)
    assert denied.value.status == 401 and "credentials" in (denied.value.hint or "")
    assert client.get(index.url("private", auth=True) + "/secretpkg/")  # userinfo is used
    dead = f"http://alice:{PRIVATE_PASSWORD}@127.0.0.1:9/x"
    with pytest.raises(podhttp.Unreachable) as gone:
        client.get(dead)
    assert "3 attempts" in gone.value.message and PRIVATE_PASSWORD not in str(gone.value)


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = podhttp.Policy(backoff=0.5, max_wait=2.0)
    assert policy.wait(1, retry_after=1.0) == 1.0
    assert policy.wait(1, retry_after=100.0) == 2.0
    assert policy.wait(1) == 0.0 and 0.25 <= policy.wait(2) <= 0.5 and policy.wait(10) == 2.0


def test_a_zero_or_missing_head_size_is_counted_never_cached(
    index: IndexServer, tmp_path: Path
) -> None:
    from podlock.resolver.model import RawArtifact
    from podlock.resolver.sizes import SizeCache, fill_sizes

    whole = podhttp.Client().get(file_url(f"{index.host}:{index.port}"))
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "f.whl").write_bytes(whole)
    sha = hashlib.sha256(whole).hexdigest()
    with plain_server(tmp_path / "www", head_length="0") as base:
        art = RawArtifact(url=f"{base}/f.whl", sha256=sha)
        (tmp_path / "sizes.json").write_text(f'{{"{sha}": 0}}')  # what older podlocks cached
        cache = SizeCache(tmp_path / "sizes.json")
        assert fill_sizes([art], cache=cache, indexes=[], offline=False) == {sha: len(whole)}
    assert SizeCache(tmp_path / "sizes.json").get(sha) == len(whole)


@pytest.mark.parametrize("seed", [1, 2, 4])  # seeds whose faults cut the body
def test_download_progress_counts_each_byte_once_through_restarts(
    index: IndexServer, tmp_path: Path, seed: int
) -> None:
    """Behind a server that ignores ``Range``, every cut body starts the file over: the
    progress task still ends at exactly its total (it once went past 100%)."""
    from podlock.layers.fetch import fetch_all
    from podlock.layers.wheels import WheelCache
    from podlock.plan.layerplan import Wheel
    from podlock.reporter import ListReporter

    whole = podhttp.Client().get(file_url(f"{index.host}:{index.port}"))
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "f.whl").write_bytes(whole)
    cache = WheelCache(tmp_path / "wheels")
    reporter = ListReporter()
    with plain_server(tmp_path / "www") as base:
        faults = Faults(upstream=base.removeprefix("http://"), rate=0.5, seed=seed)
        with fault_proxy(faults):
            wheel = Wheel(
                package="f", version="1.0", filename="f.whl", url=f"http://{faults.address}/f.whl",
                sha256=hashlib.sha256(whole).hexdigest(), size=len(whole),
            )  # fmt: skip
            part = cache.path(wheel).with_name("f.whl.part")  # what an earlier run left
            part.parent.mkdir(parents=True)
            part.write_bytes(whole[:1000])
            fetch_all(cache, [wheel], reporter)
    assert cache.path(wheel).read_bytes() == whole
    [task] = reporter.tasks
    assert (task.total, task.completed, task.finished) == (len(whole), len(whole), True)
    assert faults.injected["cut"] + faults.injected["long"] > 0, faults.injected


@contextmanager
def plain_server(root: Path, *, head_length: str | None = None) -> Iterator[str]:
    """A static server over ``root`` that ignores ``Range`` (200 with the whole file); with
    ``head_length`` its HEADs claim that ``Content-Length``."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kw: object) -> None:
            super().__init__(*args, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            if head_length is None:
                return super().do_HEAD()
            self.send_response(200)
            self.send_header("Content-Length", head_length)
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("wrong", ["size-0", "size+1", "size-1", "hash"])
def test_a_lock_with_a_wrong_size_or_hash_is_a_hash_mismatch_naming_the_file(
    index: IndexServer, tmp_path: Path, wrong: str
) -> None:
    from podlock.errors import HashMismatch
    from podlock.layers.fetch import fetch_all
    from podlock.layers.wheels import WheelCache
    from podlock.plan.layerplan import Wheel

    url = file_url(f"{index.host}:{index.port}")
    whole = podhttp.Client().get(url)
    sha, size = hashlib.sha256(whole).hexdigest(), len(whole)
    size = {"size-0": 0, "size+1": size + 1, "size-1": size - 1}.get(wrong, size)
    sha = "0" * 64 if wrong == "hash" else sha
    wheel = Wheel(
        package="bigpkg", version="1.0", filename=url.rsplit("/", 1)[1], url=url, sha256=sha,
        size=size,
    )  # fmt: skip
    cache = WheelCache(tmp_path / "wheels")
    with pytest.raises(HashMismatch) as bad:
        fetch_all(cache, [wheel])
    assert "bigpkg-1.0-py3-none-any.whl" in bad.value.message
    assert not list((tmp_path / "wheels").rglob("*.whl*[!k]"))  # no wheel, no .part


def test_the_environments_ca_bundle_and_proxies_apply_and_netrc_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a company's TLS-inspecting proxy, REQUESTS_CA_BUNDLE (as pip and curl read
    theirs) is what makes PyPI reachable; ~/.netrc must not add credentials podlock's config
    did not give."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "company-ca.pem"))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = podhttp.Client()
    url = "https://files.example.test/x.whl"
    settings = client.session(url).merge_environment_settings(url, {}, None, None, None)
    assert settings["verify"] == str(tmp_path / "company-ca.pem")
    assert settings["proxies"]["https"] == "http://proxy.test:3128"
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert client.get(f"http://127.0.0.1:{server.server_address[1]}/f") == b"ok"
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [None]
