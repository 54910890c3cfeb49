"""The system lock holds what apt-get would install: each package set of `apt_parity.toml`
locked by podlock and simulated by apt 2.6 (`apt-get install -s --no-install-recommends`)
in the same base image, against the same archive (the InRelease apt fetched is the one the
lock records). Live (deb.debian.org) and engine tests; under two minutes in all
(the archive's index is fetched and parsed once, in a cache the module shares)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from podlock.engine import Engine
from podlock.reporter import NullReporter
from podlock.system.locking import lock_system
from podlock.system.solve import NoCandidate
from testkit import BASE_IMAGE, docker

pytestmark = pytest.mark.live

CASES = tomllib.loads((Path(__file__).with_name("apt_parity.toml")).read_text())["case"]
INST = re.compile(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) ", re.MULTILINE)


@pytest.fixture(scope="module")
def apt(engine: Engine) -> Iterator[str]:
    """A container of the base image whose apt has fetched its archive's indexes."""
    container = docker("run", "-d", "--rm", "--network", "host", BASE_IMAGE,
                       "sleep", "1800").strip()  # fmt: skip
    try:
        docker("exec", container, "apt-get", "update", "-q")
        yield container
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One podlock cache for the module: the archive's index is fetched and parsed once."""
    return tmp_path_factory.mktemp("apt-parity-cache")


def apt_release_date(container: str) -> str:
    """The Date of the InRelease apt fetched, as the lock's snapshot spells it."""
    text = docker("exec", container, "sh", "-c", "grep -h '^Date:' /var/lib/apt/lists/*InRelease")
    dates = {parsedate_to_datetime(line.split(":", 1)[1].strip()) for line in text.splitlines()}
    assert len(dates) == 1, f"the base has several apt sources: {text}"
    return dates.pop().strftime("%Y%m%dT%H%M%SZ")


def apt_installs(container: str, packages: list[str]) -> dict[str, str] | str:
    """name -> version of apt-get's `Inst` lines, or its error when it refuses the set."""
    args = ["apt-get", "install", "-s", "--no-install-recommends", *packages]
    done = subprocess.run(["docker", "exec", container, *args], capture_output=True, text=True)
    if done.returncode != 0:
        return done.stdout + done.stderr
    return {m[1]: m[2] for m in INST.finditer(done.stdout)}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_system_lock_is_what_apt_get_installs(
    case: dict[str, Any], apt: str, shared_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODLOCK_CACHE_DIR", str(shared_cache))
    packages = case["packages"]
    expected = apt_installs(apt, packages)
    kwargs: dict[str, Any] = {"base_image": BASE_IMAGE, "platforms": ["linux/amd64"],
                              "variant": "cpu", "previous": None, "upgrade": False,
                              "reporter": NullReporter()}  # fmt: skip
    if case.get("refused"):
        assert isinstance(expected, str) and "E: " in expected, expected
        with pytest.raises(NoCandidate) as refused:
            lock_system(packages, **kwargs)
        assert f"system package {packages[0]}" in refused.value.message
        return
    assert isinstance(expected, dict), expected
    lock = lock_system(packages, **kwargs)
    assert lock.snapshot is not None and lock.snapshot.endswith(f"/{apt_release_date(apt)}/")
    locked = {d.name: d.version for d in lock.debs}
    assert locked == expected, (
        f"only in the lock: {sorted(set(locked.items()) - set(expected.items()))}; "
        f"only in apt's: {sorted(set(expected.items()) - set(locked.items()))}"
    )
