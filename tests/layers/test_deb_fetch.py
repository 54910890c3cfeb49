"""Fetching locked .debs: verified, in parallel, from snapshot.debian.org when the mirror
dropped them (a local HTTP server plays mirror and snapshot here), a clear error otherwise."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from podlock.errors import PodlockError
from podlock.layers.system import fetch_debs
from podlock.lock.system import Deb

SNAPSHOT = "archive/debian/20260711T101637Z"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server over ``tmp_path/www``: (base URL, root). Anything absent is a 404."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kw: object) -> None:
            super().__init__(*args, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODLOCK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PODLOCK_HTTP_RETRIES", "0")  # an unreachable host fails at once


def deb(base: str, name: str, data: bytes) -> Deb:
    return Deb(
        platform="linux/amd64",
        name=name,
        version="1.0-1",
        architecture="amd64",
        url=f"{base}/debian/pool/main/{name[0]}/{name}/{name}_1.0-1_amd64.deb",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def put(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_many_debs_download_verified_into_the_cache(server: tuple[str, Path]) -> None:
    base, root = server
    debs = [deb(base, f"pkg{i}", f"deb {i}".encode() * 1000) for i in range(12)]
    for d, i in zip(debs, range(12), strict=True):
        put(root, d.url.removeprefix(base + "/"), f"deb {i}".encode() * 1000)
    paths = fetch_debs(debs, snapshot=None)
    assert {sha: p.read_bytes() for sha, p in paths.items()} == {
        d.sha256: f"deb {i}".encode() * 1000 for i, d in enumerate(debs)
    }


def test_a_deb_gone_from_the_mirror_comes_from_the_snapshot(server: tuple[str, Path]) -> None:
    base, root = server
    data = b"!<arch>\na deb the mirror no longer has"
    gone = deb(base, "libold1", data)
    put(root, f"{SNAPSHOT}/{gone.pool_path}", data)  # only the snapshot has it
    paths = fetch_debs([gone], snapshot=f"{base}/{SNAPSHOT}/")
    assert paths[gone.sha256].read_bytes() == data


def test_a_snapshot_copy_that_differs_is_refused(server: tuple[str, Path]) -> None:
    base, root = server
    gone = deb(base, "libold1", b"what the lock says")
    put(root, f"{SNAPSHOT}/{gone.pool_path}", b"something else")
    with pytest.raises(PodlockError) as err:
        fetch_debs([gone], snapshot=f"{base}/{SNAPSHOT}/")
    assert "libold1" in err.value.message


def test_an_unreachable_snapshot_is_a_clear_error_naming_the_package(
    server: tuple[str, Path],
) -> None:
    base, _ = server
    gone = deb(base, "libold1", b"the locked bytes")
    with pytest.raises(PodlockError) as err:
        fetch_debs([gone], snapshot="http://127.0.0.1:9/archive/debian/20260711T101637Z/")
    message = err.value.message
    assert "libold1 1.0-1 is gone from" in message and "HTTP 404" in message
    assert "snapshot" in message and "snapshot.debian.org" in (err.value.hint or "")


def test_without_a_snapshot_a_404_names_the_deb(server: tuple[str, Path]) -> None:
    base, _ = server
    with pytest.raises(PodlockError) as err:
        fetch_debs([deb(base, "libold1", b"x")], snapshot=None)
    assert "libold1" in err.value.message and "HTTP 404" in err.value.message


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_debs_through_a_third_of_requests_failing_arrive_whole(
    server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    from fault_proxy import Faults, fault_proxy

    monkeypatch.setenv("PODLOCK_HTTP_RETRIES", "12")
    monkeypatch.setenv("PODLOCK_HTTP_BACKOFF", "0.001")
    monkeypatch.setenv("PODLOCK_HTTP_MAX_WAIT", "0.01")
    base, root = server
    with fault_proxy(Faults(upstream=base.removeprefix("http://"), rate=0.33, seed=seed)) as f:
        proxied = f"http://{f.address}"
        debs = [deb(proxied, f"pkg{i}", f"deb {i}".encode() * 5000) for i in range(24)]
        for d, i in zip(debs, range(24), strict=True):
            put(root, d.url.removeprefix(proxied + "/"), f"deb {i}".encode() * 5000)
        paths = fetch_debs(debs, snapshot=None)
        assert sum(f.injected.values()) > 0
    assert {sha: p.read_bytes() for sha, p in paths.items()} == {
        d.sha256: f"deb {i}".encode() * 5000 for i, d in enumerate(debs)
    }
