"""A lock depends only on its inputs, its own previous lock and the index: not on which
commands ran before (``outdated`` and the other read-only ones), nor on which variants
were locked together or first, nor on what podlock's and uv's caches hold (issue #23)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from test_lock_variants import load, make, pins

from index_server import IndexServer
from podlock.resolver.uvlock import preference_lock

CPU = 'variants = ["cpu"]\n'
# cpu: numpy as ml-dtypes allows (2.1.0 alone); cuda: the same plus numpy<2. One universal
# resolution of both prefers one numpy across its forks and gave cpu 1.26.4.
TWO = 'variants = ["cpu", "cuda"]\n[variant.cuda]\nrequirements = "narrow.txt"\n'


def hints(cache: Path) -> dict[str, bytes]:
    """What podlock keeps in its cache for the next resolution (not content caches:
    HTTP pages, wheel metadata and sizes are the index's, by URL or hash)."""
    out = {}
    for path in sorted(cache.rglob("*")):
        rel = path.relative_to(cache)
        if path.is_file() and (
            rel.parts[0] in ("uv-freshness", "uv-projects")
            or rel.parts[:2] == ("python-resolver", "consulted")
        ):
            out[str(rel)] = path.read_bytes()
    return out


@pytest.mark.parametrize("resolver", ["uv", "python"])
def test_outdated_between_two_locks_changes_nothing(
    tmp_path: Path, index: IndexServer, cli: Any, _podlock_cache: Path, resolver: str
) -> None:
    locked: dict[bool, bytes] = {}
    for read_between in (False, True):
        root = make(tmp_path / str(read_between), index, "requests\nnumpy<2\n", CPU)
        lock = ("lock", "--project", str(root), "--resolver", resolver)
        assert cli(*lock).code == 0
        (root / "requirements.txt").write_text("requests\nnumpy\n")  # the cap dropped
        assert cli(*lock).code == 0
        assert pins(load(root, "cpu"))["numpy"] == "1.26.4"  # kept: the lock's pin fits
        if read_between:
            before = hints(_podlock_cache)
            outdated = cli("outdated", "--project", str(root), "--resolver", resolver)
            assert outdated.code == 0, outdated.err
            assert "2.1.0" in outdated.out  # it did see the newer release
            for args in (("lock", "--check"), ("export", "--variant", "cpu")):
                assert cli(*args, "--project", str(root)).code == 0
            assert cli("sbom", "--project", str(root), "--variant", "cpu").code == 0
            assert hints(_podlock_cache) == before
        (root / "requirements.txt").write_text("requests\nnumpy\nidna\n")  # a package added
        assert cli(*lock).code == 0
        assert pins(load(root, "cpu"))["numpy"] == "1.26.4"
        locked[read_between] = (root / "pylock.cpu.toml").read_bytes()
    assert locked[True] == locked[False]


def two_variants(where: Path, index: IndexServer) -> Path:
    root = make(where, index, "ml-dtypes\n", TWO)
    (root / "narrow.txt").write_text("-r requirements.txt\nnumpy<2\n")
    return root


def fresh_caches(where: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty podlock and uv caches from here on."""
    monkeypatch.setenv("PODLOCK_CACHE_DIR", str(where / "podlock-cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(where / "uv-cache"))


@pytest.mark.parametrize("resolver", ["uv", "python"])
def test_a_variant_locked_alone_or_with_others_gets_the_same_bytes(
    tmp_path: Path,
    index: IndexServer,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    resolver: str,
) -> None:
    def lock(root: Path, *variants: str) -> None:
        chosen = [a for v in variants for a in ("--variant", v)]
        result = cli("lock", "--project", str(root), "--resolver", resolver, *chosen)
        assert result.code == 0, result.err

    alone = {}
    for variant in ("cpu", "cuda"):
        fresh_caches(tmp_path / f"caches-{variant}", monkeypatch)
        root = two_variants(tmp_path / f"alone-{variant}", index)
        lock(root, variant)
        alone[variant] = (root / f"pylock.{variant}.toml").read_bytes()
    assert pins(load(root, "cuda"))["numpy"] == "1.26.4"
    fresh_caches(tmp_path / "caches-together", monkeypatch)
    root = two_variants(tmp_path / "together", index)
    lock(root)  # fresh caches
    assert pins(load(root, "cpu"))["numpy"] == "2.1.0"
    for variant in ("cpu", "cuda"):
        assert (root / f"pylock.{variant}.toml").read_bytes() == alone[variant], variant
    # Used caches, no lock to prefer: alone, then together again.
    for variant in ("cpu", "cuda"):
        (root / f"pylock.{variant}.toml").unlink()
        lock(root, variant)
        assert (root / f"pylock.{variant}.toml").read_bytes() == alone[variant], variant
    for variant in ("cpu", "cuda"):
        (root / f"pylock.{variant}.toml").unlink()
    lock(root)
    for variant in ("cpu", "cuda"):
        assert (root / f"pylock.{variant}.toml").read_bytes() == alone[variant], variant


@pytest.mark.parametrize("first", ["cpu", "cuda"])
def test_the_other_variant_locked_first_changes_nothing(
    tmp_path: Path, index: IndexServer, cli: Any, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    second = "cuda" if first == "cpu" else "cpu"
    fresh_caches(tmp_path / "caches-alone", monkeypatch)
    root = two_variants(tmp_path / "alone", index)
    assert cli("lock", "--project", str(root), "--variant", second).code == 0
    alone = (root / f"pylock.{second}.toml").read_bytes()
    fresh_caches(tmp_path / "caches-history", monkeypatch)
    root = two_variants(tmp_path / "history", index)
    assert cli("lock", "--project", str(root), "--variant", first).code == 0
    assert cli("lock", "--project", str(root), "--variant", second).code == 0
    assert (root / f"pylock.{second}.toml").read_bytes() == alone
    # And with the other variant's lock on disk, locking everything keeps both.
    kept = (root / f"pylock.{first}.toml").read_bytes()
    assert cli("lock", "--project", str(root), "--upgrade").code == 0
    assert (root / f"pylock.{second}.toml").read_bytes() == alone
    assert (root / f"pylock.{first}.toml").read_bytes() == kept


def test_a_lock_copied_from_elsewhere_is_preferred_from_a_fresh_cache(
    tmp_path: Path, index: IndexServer, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The previous pylock is the only preference: a clone with an empty cache keeps it."""
    root = make(tmp_path / "a", index, "numpy<2\n", CPU)
    assert cli("lock", "--project", str(root)).code == 0
    (root / "requirements.txt").write_text("numpy\n")
    clone = tmp_path / "clone"
    shutil.copytree(root, clone)
    fresh_caches(tmp_path / "caches-clone", monkeypatch)
    assert cli("lock", "--project", str(clone)).code == 0
    assert pins(load(clone, "cpu"))["numpy"] == "1.26.4"


def test_preference_lock_carries_registry_pins_only() -> None:
    url = "https://example.org/simple"
    pylock = {
        "packages": [
            {"name": "NumPy", "version": "1.26.4", "index": url, "marker": "m == 'a'"},
            {"name": "numpy", "version": "2.1.0", "index": url, "marker": "m == 'b'"},
            {"name": "idna", "version": "3.10", "index": url},
            {"name": "mine", "archive": {"url": "https://example.org/mine.whl"}},
            {"name": "local", "version": "1.0", "index": "/srv/wheels"},
        ]
    }
    data = preference_lock(pylock, python="3.11", upgrade=["IDNA"])
    assert data is not None
    assert data["requires-python"] == "==3.11.*"
    assert data["package"] == [
        {"name": "podlock-resolve", "version": "0", "source": {"virtual": "."}},
        {
            "name": "numpy",
            "version": "1.26.4",
            "source": {"registry": url},
            "resolution-markers": ["m == 'a'"],
        },
        {
            "name": "numpy",
            "version": "2.1.0",
            "source": {"registry": url},
            "resolution-markers": ["m == 'b'"],
        },
    ]
    assert preference_lock({"packages": []}, python="3.11") is None
