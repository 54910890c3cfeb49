"""Bad input to the builder: each error says what is wrong and what to do. No engine needed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from podlock.lock.pylock import read_lock


def test_no_lock_says_to_run_podlock_lock(hello: Callable[..., Path], cli: Any) -> None:
    root = hello(lock=False)
    for args in (("build",), ("dockerfile", "--output", str(root / "ctx"))):
        result = cli(*args, "--project", str(root), "--variant", "cpu")
        assert result.code == 1
        assert "pylock.cpu.toml: missing" in result.err
        assert "run `podlock lock --variant cpu` first" in result.err


def test_stale_lock_says_to_run_podlock_lock(hello: Callable[..., Path], cli: Any) -> None:
    root = hello()
    (root / "requirements.txt").write_text((root / "requirements.txt").read_text() + "idna\n")
    result = cli("build", "--project", str(root), "--variant", "cpu")
    assert result.code == 1
    assert "stale" in result.err and "podlock lock" in result.err


def test_unknown_mode_is_named(hello: Callable[..., Path], cli: Any) -> None:
    result = cli("build", "--project", str(hello()), "--variant", "cpu", "--mode", "fast")
    assert result.code == 2
    assert "unknown mode 'fast'" in result.err and "bundled, prebuilt, custom" in result.err


def test_no_engine_says_how_to_start_one(
    hello: Callable[..., Path], cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = hello()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    result = cli("build", "--project", str(root), "--variant", "cpu")
    assert result.code == 2
    assert "no Docker engine is reachable" in result.err
    assert "apt-get install docker.io" in result.err and "dockerd" in result.err
    assert "ci/" not in result.err  # a pip-installed podlock has no repository scripts


def test_wheel_hash_mismatch_fails_before_any_build(
    hello: Callable[..., Path], cli: Any, tmp_path: Path
) -> None:
    root = hello()
    lock = root / "pylock.cpu.toml"
    (optax,) = [p for p in read_lock(lock).pylock.packages if p.name == "optax"]
    good = optax.wheels[0].hashes["sha256"]  # type: ignore[index]
    lock.write_text(lock.read_text().replace(good, "f" * 64))
    result = cli(
        "dockerfile", "--project", str(root), "--variant", "cpu", "--output", str(tmp_path / "c")
    )
    assert result.code == 2
    assert "hash mismatch for optax" in result.err
    assert not (tmp_path / "c").exists()


def test_platform_not_in_lock_is_named(
    hello: Callable[..., Path], cli: Any, tmp_path: Path
) -> None:
    result = cli("dockerfile", "--project", str(hello()), "--variant", "cpu",
                 "--platform", "darwin/arm64", "--output", str(tmp_path / "c"))  # fmt: skip
    assert result.code == 2 and "has no darwin/arm64" in result.err


def test_an_engine_out_of_disk_says_where_and_how_to_free_it() -> None:
    from podlock.engine import _failure

    log = "Step 3/4 : COPY layers/ /\nwrite /var/lib/docker/overlay2/x: no space left on device\n"
    err = _failure("COPY layers/ /", "failed to copy files: no space left on device", log)
    assert err.hint and "Docker engine's disk is full" in err.hint and "podlock prune" in err.hint
    assert _failure("RUN false", "returned a non-zero code: 1", "").hint is None
