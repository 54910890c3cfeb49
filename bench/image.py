"""Bench: the daemonless OCI builder against `docker build` of the generated Dockerfile.

Same project, same lock, same verified wheel cache (downloads are not timed). Rows:
- cold: no layer cache and no installed-wheel trees (a fresh OCI blob store;
  `docker build --no-cache`);
- warm: no layer cache, the installed-wheel trees cached (podlock/layers/installed.py; the
  issue's "warm-cache build"), against the same `docker build --no-cache`;
- code-only change: everything cached but the code layer;
- zstd: the same two builds with --compression zstd;
- floor: tar + the same compressor over the same installed tree, one pass, one thread
  (the issue's floor; the warm OCI build is compared with it).
Run by hand (needs the engine and the base image; as root, `python tests/provision.py`
installs and starts what is missing, and the tarball is made here):

    python bench/image.py                 # the hello fixture on the local fixture index
    python bench/image.py --project ml    # jax, flax, optax, numpy, pandas from PyPI
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from index_server import IndexServer  # noqa: E402
from podlock.builder.build import write  # noqa: E402
from podlock.builder.dockerfile import render  # noqa: E402
from podlock.cli.main import main as podlock  # noqa: E402
from podlock.engine import Engine  # noqa: E402
from podlock.layers.fetch import fetch_all  # noqa: E402
from podlock.layers.install import Target, compile_bytecode, compiler_for, install_wheels  # noqa: E402
from podlock.layers.tarlayer import tree, write_layer  # noqa: E402
from podlock.layers.wheels import wheel_cache  # noqa: E402
from podlock.oci.build import OciOptions, build_oci  # noqa: E402
from podlock.plan.load import default_platform, load_plan  # noqa: E402
from podlock.registry.base import open_base  # noqa: E402
from podlock.registry.blobs import BlobStore  # noqa: E402
from podlock.reporter import NullReporter  # noqa: E402
from services import base_archive  # noqa: E402
from testkit import BASE_IMAGE, HELLO, project_config  # noqa: E402

ML = "jax\nflax\noptax\nnumpy\npandas\n"
MAIN = "import flax, jax, numpy, optax, pandas\nprint('ok')\n"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def fixture_project(work: Path) -> tuple[Path, IndexServer]:
    spec = importlib.util.spec_from_file_location(
        "make_index", ROOT / "fixtures/index/make_index.py"
    )
    assert spec and spec.loader
    make_index = importlib.util.module_from_spec(spec)
    sys.modules["make_index"] = make_index
    spec.loader.exec_module(make_index)
    make_index.build_index(work / "index")
    index = IndexServer(work / "index").__enter__()
    root = work / "hello"
    shutil.copytree(HELLO, root)
    (root / "podlock.toml").write_text(project_config(index))
    return root, index


def ml_project(work: Path) -> Path:
    root = work / "ml"
    root.mkdir()
    (root / "requirements.txt").write_text(ML)
    (root / "main.py").write_text(MAIN)
    (root / "podlock.toml").write_text(
        f'python = "3.11"\nvariants = ["cpu"]\n[variant.cpu]\nbase-image = "{BASE_IMAGE}"\n'
        'platforms = ["linux/amd64"]\n'
    )
    return root


def floor(root: Path, compression: str, scratch: Path) -> tuple[float, int]:
    """tar + compressor over the installed tree of every wheel layer, one pass, one thread."""
    project = load_plan(root, "cpu")
    wheels = [w for layer in project.plan.wheel_layers for w in layer.wheels.get("linux/amd64", ())]
    paths = fetch_all(wheel_cache(project), wheels)
    tree_root = scratch / f"floor-tree-{compression}"
    target = Target(python=project.plan.python, interpreter="/usr/bin/python3.11")
    install_wheels([(w, paths[w.sha256]) for w in wheels], tree_root, target, layer="floor")
    compile_bytecode([tree_root], target, compiler_for(project.plan.python)[0], NullReporter())
    store = BlobStore(scratch / f"floor-store-{compression}")
    entries = tree(tree_root, layer="floor")
    size = sum(e.source.stat().st_size for e in entries if isinstance(e.source, Path))
    return timed(lambda: write_layer(entries, store, compression=compression, mtime=0)), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", choices=("fixture", "ml"), default="fixture")
    args = parser.parse_args()
    engine = Engine.connect()
    with tempfile.TemporaryDirectory(prefix="podlock-oci-bench-") as tmp:
        work = Path(tmp)
        os.environ["PODLOCK_CACHE_DIR"] = str(work / "cache")
        os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
        root = ml_project(work) if args.project == "ml" else fixture_project(work)[0]
        assert podlock(["-q", "lock", "--project", str(root)]) == 0
        project = load_plan(root, "cpu")
        fetch_all(
            wheel_cache(project),
            [w for layer in project.plan.wheel_layers for ws in layer.wheels.values() for w in ws],
        )
        base = f"docker-archive:{base_archive(engine.client)}"
        heavy = 1 << 20 if args.project == "fixture" else 50 << 20

        def fresh_store(name: str, trees: bool = True) -> BlobStore:
            """A cold layer cache (no layer blobs, no layer records) that has the base, as
            the engine has it; with ``trees`` False no installed-wheel trees either."""
            shutil.rmtree(work / "cache" / "oci" / "layers", ignore_errors=True)
            if not trees:
                shutil.rmtree(work / "cache" / "oci" / "installed", ignore_errors=True)
            store = BlobStore(work / "blobs" / name)
            open_base(base, ["linux/amd64"], store, NullReporter())
            return store

        def ours(compression: str = "gzip", store: BlobStore | None = None) -> None:
            build_oci(
                load_plan(root, "cpu", base=base, heavy_bytes=heavy),
                OciOptions(compression=compression, output_dir=work / f"layout-{compression}"),
                store=store,
            )

        def theirs(nocache: bool = False) -> None:
            """`podlock dockerfile`, then `docker build` of it (wheels in the context)."""
            p = load_plan(root, "cpu", heavy_bytes=heavy)
            context = work / "dockerfile-context"
            shutil.rmtree(context, ignore_errors=True)
            write(p, render(p.plan, default_platform(p.plan)), context, reporter=NullReporter())
            engine.build(context, network=None, nocache=nocache)

        ours()  # the interpreter found once (its record is not a layer cache)
        naive = timed(lambda: theirs(True))
        cold = fresh_store("cold", trees=False)
        warm = fresh_store("warm")
        rows = [
            ("cold build", timed(lambda: ours(store=cold)), naive),
            ("warm build", timed(lambda: ours(store=warm)), naive),
        ]
        main_py = root / "main.py"
        main_py.write_text(main_py.read_text() + "print('v2')\n")
        rows.append(("code-only change", timed(ours), timed(theirs)))
        zstd_store = fresh_store("zstd-cold", trees=False)
        zstd_cold = timed(lambda: ours("zstd", store=zstd_store))
        zstd_store = fresh_store("zstd-warm")
        zstd = timed(lambda: ours("zstd", store=zstd_store))
        floor_gzip, size = floor(root, "gzip", work)
        floor_zstd, _ = floor(root, "zstd", work)
    print(f"project: {args.project}, installed tree {size / 1e6:.1f} MB")
    print(f"{'build':<22}{'oci s':>9}{'docker s':>10}{'docker/oci':>12}")
    for name, a, b in rows:
        print(f"{name:<22}{a:>9.2f}{b:>10.2f}{b / a:>12.2f}")
    for name, t in (("zstd cold build", zstd_cold), ("zstd warm build", zstd)):
        print(f"{name:<22}{t:>9.2f}{naive:>10.2f}{naive / t:>12.2f}")
    warm = rows[1][1]
    print(f"floor (tar+gzip) {floor_gzip:.2f} s: warm oci gzip / floor = {warm / floor_gzip:.2f}")
    print(f"floor (tar+zstd) {floor_zstd:.2f} s: warm oci zstd / floor = {zstd / floor_zstd:.2f}")
    print("goals: warm >= 2x docker (gzip), >= 5x (zstd); warm <= 1.5x floor; code-only <= 2 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
