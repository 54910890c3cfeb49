"""The lock's lifecycle: no-op, --check, staleness, determinism, atomic writes, upgrades."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from test_lock_variants import load, make, pins

from index_server import IndexServer
from testkit import podlock


def digest(root: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.glob("pylock.*"))
    }


def test_same_inputs_give_the_same_bytes(tmp_path: Path, index: IndexServer, cli: Any) -> None:
    one = make(tmp_path / "one", index, "flax\noptax\njax\ntorch\n")
    two = make(tmp_path / "two", index, "flax\noptax\njax\ntorch\n")
    assert cli("lock", "--project", str(one)).code == 0
    # The other side in a child with another hash seed and cache: no set order leaks in.
    other = podlock("lock", "--project", str(two), env={"PODLOCK_CACHE_DIR": str(tmp_path / "c2")})
    assert other.returncode == 0, other.stderr
    assert digest(one) == digest(two)
    assert len(digest(one)) == 3
    print("lock digests:", digest(one))


def test_noop_lock_and_check_touch_no_network(tmp_path: Path, index: IndexServer, cli: Any) -> None:
    root = make(tmp_path, index, "flax\n")
    assert cli("lock", "--project", str(root)).code == 0
    before = digest(root)
    mtimes = {p.name: p.stat().st_mtime_ns for p in root.glob("pylock.*")}
    index.clear_log()
    again = cli("lock", "--project", str(root))
    assert again.code == 0
    assert again.out.count("up to date") == 3
    check = cli("lock", "--check", "--project", str(root))
    assert check.code == 0, check.out
    assert index.requests == []
    assert digest(root) == before
    assert {p.name: p.stat().st_mtime_ns for p in root.glob("pylock.*")} == mtimes


def test_check_names_missing_stale_and_corrupt_locks(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "flax\n")
    assert cli("lock", "--project", str(root)).code == 0
    # A comment or whitespace edit is not a change of meaning.
    (root / "requirements.txt").write_text("# training deps\nflax   # the NN library\n\n")
    assert cli("lock", "--check", "--project", str(root)).code == 0
    (root / "requirements.txt").write_text("flax\noptax\n")
    (root / "pylock.cuda.toml").unlink()
    (root / "pylock.tpu.toml").write_text("lock-version = '1.0'\n[[packages]\n")
    result = cli("lock", "--check", "--project", str(root))
    assert result.code == 1
    assert "pylock.cpu.toml: stale: requirements.txt changed" in result.out
    assert "pylock.cuda.toml: missing" in result.out
    assert "pylock.tpu.toml: corrupt" in result.out
    assert "run `podlock lock`" in result.err
    # `lock` reports the corrupt one and regenerates everything.
    fixed = cli("lock", "--project", str(root))
    assert fixed.code == 0
    assert "pylock.tpu.toml is corrupt" in fixed.err
    assert "optax" in pins(load(root, "tpu"))
    assert cli("lock", "--check", "--project", str(root)).code == 0


def test_a_failed_lock_leaves_the_old_locks_intact(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "flax\n")
    assert cli("lock", "--project", str(root)).code == 0
    before = digest(root)
    (root / "requirements.txt").write_text("jax==0.6.2 # kn:keep\njaxlib==0.7.0 # kn:keep\n")
    result = cli("lock", "--project", str(root))
    assert result.code == 2
    assert "no set of versions satisfies the requirements" in result.err
    assert "jaxlib" in result.err and "0.6.2" in result.err
    assert "podlock-resolve" not in result.err
    assert digest(root) == before
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]


def test_upgrade_package_moves_only_that_package(
    tmp_path: Path, index: IndexServer, cli: Any
) -> None:
    root = make(tmp_path, index, "-c pins.txt\nnumpy\nrequests\n", 'variants = ["tpu"]\n')
    (root / "pins.txt").write_text("numpy==1.26.4\nurllib3<2.2\n")
    impossible = cli("lock", "--project", str(root))  # the index has no urllib3<2.2
    assert impossible.code == 2 and "urllib3" in impossible.err
    (root / "pins.txt").write_text("numpy==1.26.4\n")
    assert cli("lock", "--project", str(root)).code == 0
    assert pins(load(root, "tpu"))["numpy"] == "1.26.4"
    # Dropping the pin is a change of inputs, but the existing pins are preferred.
    (root / "requirements.txt").write_text("numpy\nrequests\n")
    assert cli("lock", "--project", str(root)).code == 0
    assert pins(load(root, "tpu"))["numpy"] == "1.26.4"
    assert cli("lock", "--project", str(root), "--upgrade-package", "numpy").code == 0
    assert pins(load(root, "tpu"))["numpy"] == "2.1.0"
    assert cli("lock", "--project", str(root), "--upgrade").code == 0


def test_offline_uses_the_cache_only(tmp_path: Path, index: IndexServer, cli: Any) -> None:
    root = make(tmp_path, index, "flax\n", 'variants = ["tpu"]\n')
    assert cli("lock", "--project", str(root)).code == 0
    before = digest(root)
    (root / "pylock.tpu.toml").unlink()
    index.clear_log()
    result = cli("lock", "--offline", "--project", str(root))
    assert result.code == 0, result.err
    assert digest(root) == before
    assert index.requests == []  # no page, no file, no size asked of the index
