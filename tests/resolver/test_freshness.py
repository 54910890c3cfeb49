"""uv resolves from its cache only when podlock has just seen the same index pages."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_lock_variants import load, make, pins

import index_server
from fault_proxy import Faults, fault_proxy
from index_server import IndexServer
from podlock.inputs.indexes import Index, IndexPlan
from podlock.resolver.freshness import (
    Record,
    Scope,
    fetch_digests,
    from_cache_only,
    requested,
    searched,
    verified,
)

FLAX = 'variants = ["cpu"]\n'


@pytest.fixture
def own_index(index_dir: Path, tmp_path: Path) -> Iterator[IndexServer]:
    """A private copy of the fixture index, so a test may publish releases to it."""
    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    with IndexServer(copy) as server:
        yield server


def publish(
    server: IndexServer, index: str, name: str, version: str, requires: tuple[str, ...] = ()
) -> None:
    make_index: Any = sys.modules["make_index"]
    directory = server.root / index
    manifest_path = directory / make_index.MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    release = make_index.Release(name, version, requires_dist=requires)
    for entry in make_index._write_release(directory, release):
        manifest["files"].append(entry.to_json())
        project = manifest["projects"].setdefault(entry.project, {"name": name, "versions": []})
        project["versions"].append(version)
    manifest_path.write_text(json.dumps(manifest))
    server.indexes[index] = index_server._load_index(directory)


def page_gets(server: IndexServer) -> list[str]:
    return [r.path for r in server.requests if "/simple/" in r.path]


def file_requests(server: IndexServer) -> list[str]:
    return [r.path for r in server.requests if "/files/" in r.path]


def test_unchanged_pages_are_fetched_once_each_and_uv_reads_its_cache(
    tmp_path: Path, own_index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, own_index, "flax\nidna\n", FLAX)
    # Two online runs: the first learns which pages the resolution reads, the second
    # fetches them before uv does (only those vouch for uv's copy).
    assert cli("lock", "--project", str(root)).code == 0
    online = (root / "pylock.cpu.toml").read_bytes()
    assert cli("lock", "--upgrade", "--project", str(root)).code == 0
    own_index.clear_log()
    again = cli("lock", "--upgrade", "--project", str(root))
    assert again.code == 0, again.err
    gets = page_gets(own_index)
    assert gets and len(gets) == len(set(gets)), gets  # podlock's fetch, no uv revalidation
    assert file_requests(own_index) == []  # no metadata re-read either
    assert (root / "pylock.cpu.toml").read_bytes() == online


def test_a_new_release_is_seen_on_upgrade(tmp_path: Path, own_index: IndexServer, cli: Any) -> None:
    root = make(tmp_path, own_index, "flax\nidna\n", FLAX)
    for _ in range(3):
        assert cli("lock", "--upgrade", "--project", str(root)).code == 0
    assert pins(load(root, "cpu"))["idna"] == "3.10"
    publish(own_index, "pypi", "idna", "3.11")
    assert cli("lock", "--upgrade", "--project", str(root)).code == 0
    assert pins(load(root, "cpu"))["idna"] == "3.11"


def test_a_new_dependency_is_not_taken_from_a_stale_cached_page(
    tmp_path: Path, own_index: IndexServer, cli: Any
) -> None:
    # uv's cache learns idna 3.10 from another project ...
    other = make(tmp_path / "other", own_index, "idna\n", FLAX)
    assert cli("lock", "--project", str(other)).code == 0
    root = make(tmp_path, own_index, "flax\n", FLAX)
    for _ in range(3):
        assert cli("lock", "--project", str(root)).code == 0
    # ... then idna 3.11 is published and this project starts to need idna.
    publish(own_index, "pypi", "idna", "3.11")
    (root / "requirements.txt").write_text("flax\nidna\n")
    result = cli("lock", "--project", str(root))
    assert result.code == 0, result.err
    assert pins(load(root, "cpu"))["idna"] == "3.11"


def test_a_lost_record_means_an_online_run(
    tmp_path: Path, own_index: IndexServer, cli: Any, _podlock_cache: Path
) -> None:
    root = make(tmp_path, own_index, "flax\n", FLAX)
    for _ in range(2):
        assert cli("lock", "--upgrade", "--project", str(root)).code == 0
    for record in (_podlock_cache / "uv-freshness").iterdir():
        record.write_text("{not json")
    own_index.clear_log()
    assert cli("lock", "--upgrade", "--project", str(root)).code == 0
    gets = page_gets(own_index)
    assert len(gets) > len(set(gets))  # uv fetched the pages itself


def test_after_a_page_changed_uv_revalidates_that_page_and_no_variant_goes_online(
    tmp_path: Path, own_index: IndexServer, cli: Any
) -> None:
    """A new release changes one page: uv revalidates it (and reads the new version's
    metadata) once, after podlock's fetch; every variant then answers from uv's cache."""
    root = make(tmp_path, own_index, "flax\nidna\n", 'variants = ["cpu", "cuda", "tpu"]\n')
    for _ in range(2):
        assert cli("lock", "--upgrade", "--project", str(root)).code == 0
    publish(own_index, "pypi", "idna", "3.11")
    own_index.clear_log()
    assert cli("lock", "--upgrade", "--project", str(root)).code == 0
    gets = Counter(page_gets(own_index))
    assert gets.pop("/pypi/simple/idna/") == 2, gets  # podlock's fetch, then uv's refresh
    assert set(gets.values()) == {1}, gets  # no ``uv lock`` went online
    assert all(pins(load(root, v))["idna"] == "3.11" for v in ("cpu", "cuda", "tpu"))
    own_index.clear_log()  # and the next run needs no uv online at all
    assert cli("lock", "--upgrade", "--project", str(root)).code == 0
    assert max(Counter(page_gets(own_index)).values()) == 1


def test_a_changed_page_with_a_new_dependency_still_locks_it(
    tmp_path: Path, own_index: IndexServer, cli: Any
) -> None:
    """uv's refresh reaches the new release's dependencies; whatever it misses sends
    ``uv lock`` online, so the lock has the new release's requirements either way."""
    root = make(tmp_path, own_index, "flax\n", FLAX)
    for _ in range(2):
        assert cli("lock", "--upgrade", "--project", str(root)).code == 0
    before = pins(load(root, "cpu"))
    assert "idna" not in before
    publish(own_index, "pypi", "flax", "9.0", requires=("jax>=0.6", "idna"))
    result = cli("lock", "--upgrade", "--project", str(root))
    assert result.code == 0, result.err
    after = pins(load(root, "cpu"))
    assert after["flax"] == "9.0"
    assert after["idna"] == "3.10"
    assert {"jax", "jaxlib", "numpy"} <= set(after)  # the new flax's requirements, whole


# -- the rules, one by one -------------------------------------------------------------

PLAN = IndexPlan(
    indexes=(
        Index(name="torch-cpu", url="https://example.test/cpu/", explicit=True),
        Index(name="default", url="https://pypi.test/simple"),
    ),
    sources={"Torch": "torch-cpu"},
    find_links=(),
    no_index=False,
    pre=False,
    trusted_hosts=(),
)


def test_page_digests_through_faults_are_the_fault_free_ones(
    index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut bodies, long Content-Lengths and drops while a page is read in pieces: the page
    is read again, never hashed half (a wrong digest would send uv online for nothing)."""
    monkeypatch.setenv("PODLOCK_HTTP_BACKOFF", "0.005")
    monkeypatch.setenv("PODLOCK_HTTP_MAX_WAIT", "0.05")
    names = ("flax", "jax", "jaxlib", "numpy", "optax", "requests", "torch", "urllib3")
    with fault_proxy(Faults(upstream=f"{index.host}:{index.port}", rate=0.0)) as faults:
        base = index.url().replace(f"{index.host}:{index.port}", faults.address)
        urls = [f"{base}/{name}/" for name in names]
        clean = fetch_digests(urls, [])
        assert len(clean) == len(names) and all(len(d) == 64 for d in clean.values()), clean
        for seed in (1, 2, 3):
            faults.rate, faults.seed = 0.4, seed
            assert fetch_digests(urls, []) == clean
        assert faults.injected["cut"] + faults.injected["long"] > 0, faults.injected


def test_scope_pages_cover_routed_and_default_indexes() -> None:
    scope = Scope.of([PLAN])
    assert scope is not None
    assert scope.pages("torch") == [
        "https://example.test/cpu/torch/",
        "https://pypi.test/simple/torch/",
    ]
    assert scope.pages("Flax_Ext") == ["https://pypi.test/simple/flax-ext/"]


def test_scope_refuses_what_podlock_cannot_check() -> None:
    local = Index(name="default", url="file:///srv/index")
    assert Scope.of([IndexPlan(**{**PLAN.__dict__, "find_links": ("./wheels",)})]) is None
    assert Scope.of([IndexPlan(**{**PLAN.__dict__, "no_index": True})]) is None
    assert Scope.of([IndexPlan(**{**PLAN.__dict__, "indexes": (local,)})]) is None


LOG = """\
DEBUG Searching for a compatible version of podlock-resolve @ `file:///x` (*)
DEBUG Searching for a compatible version of Typing_Extensions (>=4)
DEBUG Searching for a compatible version of jax[tpu]{platform_machine == 'x86_64'} (*)
"""


def test_the_uv_log_tells_what_was_searched_and_whether_the_network_was_used() -> None:
    assert searched(LOG, root="podlock-resolve") == {"typing-extensions", "jax"}
    assert from_cache_only(LOG)
    assert not from_cache_only(LOG + "DEBUG Sending fresh GET request for: https://x/simple/a/\n")
    assert not from_cache_only(LOG + "DEBUG Sending revalidation request for: https://x/a/\n")
    fetched = "DEBUG Sending revalidation request for: https://x/simple/a/\n"
    assert requested(LOG + fetched) == {"https://x/simple/a/"}
    assert from_cache_only("DEBUG Existing `uv.lock` satisfies workspace requirements\n")
    assert not from_cache_only("DEBUG something uv never said before\n")  # format changed


def test_only_pages_fetched_before_an_online_run_vouch() -> None:
    scope = Scope.of([PLAN])
    assert scope is not None
    url = "https://pypi.test/simple/jax/"
    record = Record(uv="uv 1", names=["jax"], pages={url: "a"})
    assert verified(["jax"], scope, record, {url: "a"})
    assert not verified(["jax"], scope, record, {url: "b"})  # changed
    assert not verified(["jax"], scope, record, {})  # could not fetch it now
    assert not verified(["jax", "numpy"], scope, record, {url: "a"})  # never vouched for


def test_a_record_from_another_uv_or_a_broken_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    Record(uv="uv 1 /cache", names=["jax"], pages={"u": "d"}).save(path)
    assert Record.load(path, "uv 1 /cache").pages == {"u": "d"}
    assert Record.load(path, "uv 2 /cache").pages == {}
    path.write_text("[]")
    assert Record.load(path, "uv 1 /cache").names == []
