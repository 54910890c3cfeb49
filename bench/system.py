"""Bench: system packages (ffmpeg + libgl1) on the bookworm test base.

Rows:
- lock: `podlock lock`, cold (an empty podlock cache: the base's files are read and every
  Packages index is downloaded and verified) and warm (the same, indexes cached);
- build: `podlock build --builder oci` of the project (its system layer is nearly all of
  it), cold (an empty podlock cache: the .debs are downloaded), warm (the .debs and their
  unpacked archives cached, no layer cache: the layer is archived and compressed again; as
  bench/image.py's warm has the installed wheel trees), the .debs cached but not unpacked,
  and everything cached (the layer too); written as a layout (`--output-dir`), and the warm
  one also loaded into the engine (`--load`);
- apt: `docker build --no-cache --network host` of a Dockerfile that runs `apt-get update`
  and `apt-get install --no-install-recommends` of the same packages on the same base, same
  engine, twice (the engine keeps no apt cache between builds, so "warm" is a second run).
Run by hand (needs the engine, the base image and deb.debian.org):

    python bench/system.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from podlock.engine import Engine  # noqa: E402
from services import base_archive  # noqa: E402
from testkit import BASE_IMAGE  # noqa: E402

PACKAGES = ("ffmpeg", "libgl1")
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
PODLOCK = str(Path(sys.executable).with_name("podlock"))


def project(work: Path) -> Path:
    root = work / "sys"
    root.mkdir()
    (root / "requirements.txt").write_text("")
    listed = ", ".join(f'"{p}"' for p in PACKAGES)
    (root / "podlock.toml").write_text(
        f'python = "3.11"\nvariants = ["cpu"]\nsystem-packages = [{listed}]\n'
        f'[variant.cpu]\nbase-image = "{BASE_IMAGE}"\nplatforms = ["linux/amd64"]\n'
    )
    return root


def timed(argv: list[str], cache: Path | None = None) -> float:
    env = dict(os.environ)
    if cache is not None:
        env["PODLOCK_CACHE_DIR"] = str(cache)
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def warm_cache(cold: Path, into: Path, parts: tuple[str, ...]) -> Path:
    """A podlock cache with ``cold``'s ``parts`` (e.g. .debs and Debian indexes) only."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    for name in parts:
        shutil.copytree(cold / name, into / name, copy_function=os.link)
    return into


def apt_context(work: Path) -> Path:
    ctx = work / "apt"
    ctx.mkdir()
    shutil.copyfile(HOST_CA, ctx / "ca.crt")
    (ctx / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\n"
        "COPY ca.crt /etc/ssl/certs/ca-certificates.crt\n"
        "RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
        f"--no-install-recommends {' '.join(PACKAGES)} && rm -rf /var/lib/apt/lists/*\n"
    )
    return ctx


def main() -> int:
    engine = Engine.connect(timeout=30)
    base = f"docker-archive:{base_archive(engine.client)}"
    with tempfile.TemporaryDirectory(prefix="podlock-bench-system-") as tmp:
        work = Path(tmp)
        root = project(work)
        cold = work / "cache-cold"
        lock = [PODLOCK, "lock", "--project", str(root), "--upgrade"]
        lock_cold = timed(lock, cold)
        lock_warm = timed(lock, cold)
        build = [PODLOCK, "build", "--builder", "oci", "--project", str(root),
                 "--variant", "cpu", "--base", base]  # fmt: skip
        out = ["--output-dir", str(work / "layout")]
        load = ["--load", "--tag", "podlock-bench/system:oci"]
        shutil.rmtree(cold / "debs", ignore_errors=True)
        shutil.rmtree(cold / "oci", ignore_errors=True)
        oci_cold = timed(build + out, cold)
        unpacked = ("debs", "debs-unpacked", "debian")
        oci_warm = timed(build + out, warm_cache(cold, work / "cache-warm", unpacked))
        oci_packed = timed(build + out, warm_cache(cold, work / "cache-warm", ("debs", "debian")))
        oci_warm_load = timed(build + load, warm_cache(cold, work / "cache-warm", unpacked))
        oci_cached = timed(build + out, cold)
        debs = sum(1 for _ in (cold / "debs").rglob("*.deb"))
        ctx = apt_context(work)
        apt = ["docker", "build", "--no-cache", "--network", "host", "-q",
               "-t", "podlock-bench/system:apt", str(ctx)]  # fmt: skip
        apt_cold = timed(apt)
        apt_warm = timed(apt)
    print(f"ffmpeg + libgl1 on {BASE_IMAGE}: {debs} .debs")
    print(f"lock, cold / warm: {lock_cold:.2f} s / {lock_warm:.2f} s")
    print(f"{'build':<48}{'podlock s':>10}{'apt s':>8}{'ratio':>8}")
    rows = [
        ("cold (.debs downloaded), layout", oci_cold, apt_cold),
        ("warm (.debs unpacked, no layer cache), layout", oci_warm, apt_warm),
        ("warm, --load into the engine", oci_warm_load, apt_warm),
        (".debs cached, not unpacked, layout", oci_packed, apt_warm),
        ("everything cached (the layer too), layout", oci_cached, apt_warm),
    ]
    for name, ours, theirs in rows:
        print(f"{name:<48}{ours:>10.2f}{theirs:>8.2f}{ours / theirs:>7.2f}x")
    print("goal: warm <= 0.3x the apt build")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
