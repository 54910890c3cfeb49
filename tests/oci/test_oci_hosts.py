"""Same lock ⇒ same digest on any machine: podlock itself running on two CPython patch
releases (Debian's /usr/bin/python3.11 and the venv's), with another user environment,
umask, TMPDIR, locale, time zone and cache path, builds one image digest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import podlock
from testkit import skip_or_fail

SYSTEM_PYTHON = Path("/usr/bin/python3.11")
SRC = Path(podlock.__file__).resolve().parent.parent


def _patch(python: str) -> str:
    done = subprocess.run(
        [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.mark.engine
def test_two_cpython_patch_releases_users_and_dirs_give_one_digest(
    hello: Callable[..., Path], cli: Any, base_archive: str, tmp_path: Path
) -> None:
    if not SYSTEM_PYTHON.is_file():
        skip_or_fail(f"{SYSTEM_PYTHON} is missing: it is the second CPython of this test")
    ours, theirs = _patch(sys.executable), _patch(str(SYSTEM_PYTHON))
    if ours == theirs or ours.rsplit(".", 1)[0] != theirs.rsplit(".", 1)[0]:
        skip_or_fail(f"need two patch releases of one CPython X.Y, have {ours} and {theirs}")
    root = hello()
    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    first = cli(
        "build", "--builder", "oci", "--project", str(root), "--variant", "cpu",
        "--base", base_archive, "--heavy-mb", "1", "--output-dir", str(out1),
    )  # fmt: skip
    assert first.code == 0, first.err
    d1 = first.out.strip().splitlines()[-1]
    # The other host: Debian's CPython runs podlock from this checkout, with this venv's
    # dependencies (the same X.Y ABI) on its path, so its bytecode compiler is that release.
    scratch = tmp_path / "other-tmp"
    scratch.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONHOME", "TZ", "LANG", "LC_ALL", "USER", "HOME")
    }
    env.update(
        PYTHONPATH=os.pathsep.join([str(SRC), sysconfig.get_paths()["purelib"]]),
        PODLOCK_CACHE_DIR=str(tmp_path / "other-cache"),
        TMPDIR=str(scratch),
        TZ="Pacific/Kiritimati",
        LANG="C",
        LC_ALL="C",
        USER="ci-runner",
        HOME=str(scratch),
        PYTHONHASHSEED="12345",
    )
    old = os.umask(0o027)
    try:
        child = subprocess.run(
            [str(SYSTEM_PYTHON), "-m", "podlock", "-v", "build", "--builder", "oci",
             "--project", str(root), "--variant", "cpu", "--base", base_archive,
             "--heavy-mb", "1", "--output-dir", str(out2)],
            capture_output=True, text=True, env=env, timeout=300, check=False,
        )  # fmt: skip
    finally:
        os.umask(old)
    assert child.returncode == 0, child.stderr[-3000:]
    d2 = child.stdout.strip().splitlines()[-1]
    print(f"CPython {ours}: {d1}\nCPython {theirs}: {d2}")
    assert d1 == d2
    assert (out1 / "index.json").read_bytes() == (out2 / "index.json").read_bytes()
    manifest = json.loads((out1 / "blobs" / "sha256" / d1[7:]).read_bytes())
    config = (out1 / "blobs" / "sha256" / manifest["config"]["digest"][7:]).read_text()
    for host_thing in (ours, theirs, str(tmp_path), "layer key", "ci-runner"):
        assert host_thing not in config
