"""The in-image merge of files several wheels ship (builder/files/merge_shared.py): after
uv's parallel install, the image holds what pip leaves, as the host-installed layers do."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from podlock.toolchain import uv_binary

SCRIPT = Path(__file__).resolve().parents[2] / "src/podlock/builder/files/merge_shared.py"


def _wheel(path: Path, name: str, files: dict[str, bytes]) -> None:
    """A pure wheel whose RECORD has every file's hash, as real wheels do."""
    dist = f"{name}-1.0.dist-info"
    files = {
        **files,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    rows = [f"{f},sha256={_b64(hashlib.sha256(d).digest())},{len(d)}" for f, d in files.items()]
    with zipfile.ZipFile(path, "w") as z:
        for f, data in files.items():
            z.writestr(f, data)
        z.writestr(f"{dist}/RECORD", "\n".join([*rows, f"{dist}/RECORD,,"]) + "\n")


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _venv_with(tmp_path: Path, wheels: dict[str, bytes]) -> tuple[Path, Path]:
    """A venv with each wheel (one ``shared/__init__.py`` apiece) installed by uv."""
    found = tmp_path / "wheels"
    found.mkdir()
    for name, content in wheels.items():
        _wheel(found / f"{name}-1.0-py3-none-any.whl", name, {"shared/__init__.py": content})
    venv = tmp_path / "venv"
    uv = uv_binary()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin/python"), "--no-index",
         "--no-deps", "--find-links", str(found), *wheels],
        check=True,
    )  # fmt: skip
    site = next((venv / "lib").glob("python3*/site-packages"))
    return site, found


def _merge(site: Path, wheels: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(site), str(wheels)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_copy_pip_installs_last_is_put_back_whichever_uv_wrote_last(tmp_path: Path) -> None:
    site, wheels = _venv_with(tmp_path, {"zeta": b"a = 'zeta'\n", "alpha": b"a = 'alpha'\n"})
    shared = site / "shared" / "__init__.py"
    shared.write_bytes(b"a = 'zeta'\n")  # as if uv's zeta install had finished last
    done = _merge(site, wheels)
    assert done.returncode == 0, done.stderr
    assert shared.read_bytes() == b"a = 'alpha'\n"
    assert "shipped by alpha and zeta with different contents; alpha's copy is kept" in done.stderr
    assert _merge(site, wheels).returncode == 0  # idempotent
    assert shared.read_bytes() == b"a = 'alpha'\n"


def test_files_shipped_with_the_same_bytes_are_left_alone_silently(tmp_path: Path) -> None:
    site, wheels = _venv_with(tmp_path, {"nvidia_a": b"", "nvidia_b": b""})
    done = _merge(site, wheels)
    assert (done.returncode, done.stderr) == (0, "")
