"""Bench: what `podlock run` adds over running the command in its venv directly, and over
`uv run` on an equivalent uv project (both check the lock, then run in a synced venv).

The hello fixture project on the local fixture index; the command is `python -c pass`, so
what is measured is the launcher's own cost. Budget (issue #5): <= 0.3 s over direct.

    python bench/run.py [--runs 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from index_server import IndexServer  # noqa: E402
from testkit import HELLO, project_config  # noqa: E402

BIN = Path(sys.executable).parent
BUDGET_S = 0.3


def build_index(out: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "make_index", ROOT / "fixtures/index/make_index.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_index"] = module
    spec.loader.exec_module(module)
    module.build_index(out)


def timed(argv: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall time of ``argv`` over ``runs`` runs (after one warm-up)."""
    subprocess.run(argv, env=env, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def uv_project(path: Path, index_url: str) -> None:
    path.mkdir()
    (path / "pyproject.toml").write_text(
        '[project]\nname = "hello-uv"\nversion = "0"\nrequires-python = "==3.11.*"\n'
        'dependencies = ["flax", "optax", "bigpkg"]\n'
        f'[[tool.uv.index]]\nname = "fixture"\nurl = "{index_url}"\ndefault = true\n'
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="podlock-bench-run-") as tmp_dir:
        tmp = Path(tmp_dir)
        build_index(tmp / "index")
        env = {
            **os.environ,
            "PODLOCK_CACHE_DIR": str(tmp / "cache"),
            "UV_CACHE_DIR": str(tmp / "uv-cache"),
            "UV_PYTHON_DOWNLOADS": "never",
        }
        with IndexServer(tmp / "index") as index:
            root = tmp / "hello"
            shutil.copytree(HELLO, root)
            (root / "podlock.toml").write_text(project_config(index))
            podlock = [str(BIN / "podlock")]
            subprocess.run([*podlock, "lock", "--project", str(root)], env=env, check=True)
            start = time.perf_counter()
            subprocess.run(
                [*podlock, "run", "--project", str(root), "--", "python", "-c", "pass"],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            cold = time.perf_counter() - start
            [venv] = (tmp / "cache" / "venvs").iterdir()
            uv_dir = tmp / "uv-project"
            uv_project(uv_dir, index.url("pypi"))
            uv = [str(BIN / "uv")]
            subprocess.run(
                [*uv, "sync", "--project", str(uv_dir), "--python", sys.executable, "-q"],
                env=env, check=True,
            )  # fmt: skip
            direct = timed([str(venv / "bin" / "python"), "-c", "pass"], env, args.runs)
            ours = timed(
                [*podlock, "run", "--project", str(root), "--", "python", "-c", "pass"],
                env,
                args.runs,
            )
            uv_run = timed(
                [*uv, "run", "--project", str(uv_dir), "python", "-c", "pass"], env, args.runs
            )
    overhead = ours - direct
    print(f"cold `podlock run` (lock present, venv built): {cold:.2f} s")
    print(f"median of {args.runs} warm runs of `python -c pass`:")
    print(f"  direct in the venv:  {direct * 1000:7.1f} ms")
    print(f"  podlock run:         {ours * 1000:7.1f} ms  ({ours / direct:.1f}x direct)")
    print(f"  uv run (uv project): {uv_run * 1000:7.1f} ms  ({uv_run / direct:.1f}x direct)")
    print(f"podlock run / uv run: {ours / uv_run:.2f}x")
    verdict = "within" if overhead <= BUDGET_S else "OVER"
    print(f"podlock run overhead: {overhead * 1000:.1f} ms ({verdict} the {BUDGET_S} s budget)")
    return 0 if overhead <= BUDGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
