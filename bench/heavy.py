"""Bench: a heavy image (PyPI's CUDA torch, ~4 GB of wheels) built by podlock against the
Kinetic-style build and against the floor.

One project, `torch==2.9.1` for the `cuda` variant (the CUDA 12.8 wheels that all ship
`nvidia/__init__.py`), locked once. Rows, each timed as a user runs it (a child process):
- podlock oci, cold: `podlock build --builder oci`, empty podlock cache (wheels downloaded
  from PyPI, installed, compressed);
- podlock oci, warm: wheels and installed trees cached, no layer cache (what a changed
  layer plan or a new base costs);
- podlock engine, warm trees: `podlock build` with the Docker engine, trees cached;
- Kinetic-style: `docker build --no-cache` of `pip install --no-deps --require-hashes -r`
  the same `podlock export`, in one layer, pip downloading from PyPI in the build;
- floor: tar + gzip (the same ISA-L compressor, one pass, one thread) over the installed
  tree of every wheel: the least any builder must do once the files exist.
Per row: peak RSS of the child; peak disk: the filesystem's used bytes sampled every
0.25 s, highest minus before; kept: what was still there after (podlock's caches, the
engine's layers); temporary = peak - kept. Run it on an idle machine: anything else that
writes to the disk meanwhile counts too.

    python bench/heavy.py            # needs the engine and the base image (tests/provision.py)
    python bench/heavy.py --keep     # keep the work directory and the engine images it made
                                     # (default: both deleted, ~25 GB)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


from podlock.engine import Engine  # noqa: E402
from podlock.layers.fetch import fetch_all  # noqa: E402
from podlock.layers.install import Target, compile_bytecode, compiler_for, install_wheels  # noqa: E402
from podlock.layers.tarlayer import tree, write_layer  # noqa: E402
from podlock.layers.wheels import wheel_cache  # noqa: E402
from podlock.plan.load import load_plan  # noqa: E402
from podlock.registry.blobs import BlobStore  # noqa: E402
from podlock.reporter import NullReporter  # noqa: E402
from services import base_archive, force_remove_since  # noqa: E402
from testkit import BASE_IMAGE  # noqa: E402

REQUIREMENTS = "torch==2.9.1\n"
KINETIC = """\
FROM {base}
COPY ca.crt /etc/ssl/certs/podlock-bench-ca.crt
RUN python3 -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN PIP_CERT=/etc/ssl/certs/podlock-bench-ca.crt /opt/venv/bin/pip install --no-cache-dir \\
    --no-deps --require-hashes -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY main.py /app/main.py
"""


@dataclass
class Run:
    seconds: float
    rss_mb: float = 0.0
    disk_gb: float = 0.0  # peak growth of the filesystem's used bytes during the run
    kept_gb: float = 0.0  # what stayed after it (caches, images): the rest was temporary

    @property
    def temporary_gb(self) -> float:
        return self.disk_gb - self.kept_gb


class DiskPeak:
    """The highest used bytes of the filesystem holding ``path`` while the block runs."""

    def __init__(self, path: Path) -> None:
        self.path, self.peak, self._stop = path, 0, threading.Event()

    def __enter__(self) -> DiskPeak:
        self.start = shutil.disk_usage(self.path).used
        self.peak = self.start
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, shutil.disk_usage(self.path).used)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, shutil.disk_usage(self.path).used)

    @property
    def grown_gb(self) -> float:
        return (self.peak - self.start) / 1e9

    @property
    def kept_gb(self) -> float:
        return (shutil.disk_usage(self.path).used - self.start) / 1e9


def child(argv: list[str], env: dict[str, str], work: Path) -> Run:
    """Run ``argv``; its wall time, peak RSS and peak disk growth. Fails loudly."""
    with DiskPeak(work) as disk:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed:\n{err[-3000:]}")
    return Run(seconds, usage.ru_maxrss / 1024, disk.grown_gb, disk.kept_gb)


def floor(root: Path, work: Path) -> tuple[float, int]:
    """tar + gzip over the installed tree of every wheel, one pass, one thread; its size."""
    project = load_plan(root, "cuda")
    wheels = [w for layer in project.plan.wheel_layers for w in layer.wheels["linux/amd64"]]
    paths = fetch_all(wheel_cache(project), wheels)
    tree_root = work / "floor-tree"
    target = Target(python=project.plan.python, interpreter="/usr/bin/python3.11")
    for w in wheels:  # one wheel at a time: files several wheels ship are simply overwritten
        install_wheels([(w, paths[w.sha256])], tree_root / w.sha256, target, layer="floor")
    roots = [tree_root / w.sha256 for w in wheels]
    compile_bytecode(roots, target, compiler_for(project.plan.python)[0], NullReporter())
    store = BlobStore(work / "floor-store")
    entries = tree(tree_root, layer="floor")
    size = sum(e.source.stat().st_size for e in entries if isinstance(e.source, Path))
    start = time.perf_counter()
    write_layer(entries, store, compression="gzip", mtime=0)
    seconds = time.perf_counter() - start
    shutil.rmtree(tree_root)
    shutil.rmtree(work / "floor-store")
    return seconds, size


def kinetic(root: Path, base: str, work: Path, engine: Engine) -> Run:
    """`docker build --no-cache` of a one-layer pip install of the export."""
    context = work / "kinetic"
    context.mkdir()
    export = subprocess.run(
        [sys.executable, "-m", "podlock", "export", "--project", str(root), "--variant", "cuda"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (context / "requirements.txt").write_text(export.stdout)
    shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", context / "ca.crt")
    shutil.copyfile(root / "main.py", context / "main.py")
    (context / "Dockerfile").write_text(KINETIC.format(base=base))
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    argv = ["docker", "build", "--no-cache", "--network", "host", "-q", "-t", "bench-kinetic",
            str(context)]  # fmt: skip
    try:
        return child(argv, env, work)
    finally:
        subprocess.run(["docker", "rmi", "-f", "bench-kinetic"], capture_output=True, check=False)
        subprocess.run(["docker", "builder", "prune", "-f"], capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--work", type=Path, default=None, help="where (default: a temp dir)")
    args = parser.parse_args()
    engine = Engine.connect()
    before = {image.id for image in engine.client.images.list(all=True)}
    work = Path(tempfile.mkdtemp(prefix="podlock-heavy-bench-", dir=args.work))
    try:
        return _bench(work, engine)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            force_remove_since(engine.client, before)  # the engine builder's layers, ~9 GB


def _bench(work: Path, engine: Engine) -> int:
    cache = work / "cache"
    env = {**os.environ, "PODLOCK_CACHE_DIR": str(cache), "UV_PYTHON_DOWNLOADS": "never"}
    os.environ.update(env)
    root = work / "cu12"
    root.mkdir()
    (root / "requirements.txt").write_text(REQUIREMENTS)
    (root / "main.py").write_text("import torch\nprint(torch.version.cuda)\n")
    (root / "podlock.toml").write_text(
        f'python = "3.11"\nvariants = ["cuda"]\n[variant.cuda]\nbase-image = "{BASE_IMAGE}"\n'
        'platforms = ["linux/amd64"]\n'
    )
    podlock = [sys.executable, "-m", "podlock"]
    subprocess.run([*podlock, "-q", "lock", "--project", str(root)], env=env, check=True)
    base = f"docker-archive:{base_archive(engine.client)}"
    oci = [*podlock, "build", "--builder", "oci", "--project", str(root), "--variant", "cuda",
           "--base", base]  # fmt: skip
    rows: list[tuple[str, Run]] = []
    rows.append(("podlock oci, cold", child(oci, env, work)))
    shutil.rmtree(cache / "oci" / "layers", ignore_errors=True)  # the layer cache only
    shutil.rmtree(cache / "oci" / "blobs", ignore_errors=True)
    rows.append(("podlock oci, warm", child(oci, env, work)))
    engine_argv = [*podlock, "build", "--project", str(root), "--variant", "cuda",
                   "--tag", "bench-heavy:engine"]  # fmt: skip
    rows.append(("podlock engine, warm trees", child(engine_argv, env, work)))
    subprocess.run(["docker", "rmi", "-f", "bench-heavy:engine"], capture_output=True)
    theirs = kinetic(root, BASE_IMAGE, work, engine)
    floor_s, size = floor(root, work)
    print(f"CUDA torch 2.9.1 image: installed tree {size / 1e9:.2f} GB")
    print(
        f"{'build':<30}{'s':>8}{'RSS MB':>8}{'peak GB':>9}{'kept GB':>9}{'temp GB':>9}"
        f"{'/kinetic':>10}{'/floor':>8}"
    )
    for name, r in [*rows, ("Kinetic-style docker build", theirs)]:
        print(
            f"{name:<30}{r.seconds:>8.1f}{r.rss_mb:>8.0f}{r.disk_gb:>9.2f}{r.kept_gb:>9.2f}"
            f"{r.temporary_gb:>9.2f}{r.seconds / theirs.seconds:>10.2f}{r.seconds / floor_s:>8.2f}"
        )
    print(f"{'floor (tar+gzip, 1 thread)':<30}{floor_s:>9.1f}")
    cold, warm = rows[0][1], rows[1][1]
    print(
        f"goals: cold <= 0.6x kinetic: {cold.seconds / theirs.seconds:.2f}; "
        f"warm <= 1.2x floor: {warm.seconds / floor_s:.2f}; RSS <= 500 MB: {cold.rss_mb:.0f}; "
        f"temporary disk <= 1.2x image: {cold.temporary_gb * 1e9 / size:.2f} "
        f"(peak with the caches it keeps: {cold.disk_gb * 1e9 / size:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
