"""Lock speed: podlock (all three variants) against one `uv pip compile --universal`.

Runs both in one process, against the index the machine reaches (PyPI), and prints times
and ratios. Goals (issue #2): a warm full re-resolve of cpu+cuda+tpu <= 1.3x one uv
compile of a single variant; a no-op `podlock lock` and `lock --check` <= 0.5 s each.
Issue #23: after an index page changed (a release; the path of every weekly upgrade),
<= 1.5x.

    python bench/lock_variants.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from podlock.toolchain import find_python, uv_binary

HERE = Path(__file__).resolve().parent


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{done.stderr}")
    return elapsed


def median(fn: Callable[[], float], runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="podlock-bench-"))
    project = work / "reference"
    shutil.copytree(HERE / "reference", project)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "PODLOCK_CACHE_DIR": str(work / "cache")}
    # An installed podlock has its bytecode compiled (pip does it); a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would compile ~60 modules on every run (0.2 s).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    uv = uv_binary()
    podlock = [sys.executable, "-m", "podlock"]
    python = find_python("3.12", uv)
    # The cpu variant's requirements, as podlock asks uv for them (jax is the runtime).
    single = work / "cpu.in"
    single.write_text((HERE / "reference" / "requirements.txt").read_text())
    compile_argv = [
        uv, "pip", "compile", "--universal", "--python-version", "3.12", "--python", python,
        "--generate-hashes", "-q", "-o", str(work / "cpu.txt"), str(single),
    ]  # fmt: skip

    # Warm every cache: uv's HTTP cache, podlock's size cache and its record of the index
    # pages (two runs: the first learns which pages the resolution reads, the second
    # fetches them before uv does; see podlock/resolver/freshness.py).
    timed(compile_argv, env)
    timed([*podlock, "lock", "--project", str(project)], env)
    timed([*podlock, "lock", "--upgrade", "--project", str(project)], env)

    def uv_compile() -> float:
        (work / "cpu.txt").unlink(missing_ok=True)
        return timed(compile_argv, env)

    def podlock_full() -> float:
        # No preferences at all: the locks (uv's only source of preferences) are removed.
        for lock in project.glob("pylock.*.toml"):
            lock.unlink()
        return timed([*podlock, "lock", "--project", str(project)], env)

    def podlock_changed() -> float:
        # As after a release: the records still name every page, but numpy's differs from
        # the copy podlock saw (uv revalidates that page, then answers from its cache).
        for record in (work / "cache" / "uv-freshness").glob("*.json"):
            data = json.loads(record.read_text())
            for url in data["pages"]:
                if url.endswith("/numpy/"):
                    data["pages"][url] = "0" * 64
            record.write_text(json.dumps(data))
        return podlock_full()

    def podlock_online() -> float:
        # As on a machine with uv's cache but not podlock's: no record, uv goes online.
        shutil.rmtree(work / "cache" / "uv-freshness", ignore_errors=True)
        return podlock_full()

    def cold(argv: list[str]) -> float:
        # A fresh CI runner: no uv cache and no podlock cache (both removed afterwards).
        caches = work / "cold"
        shutil.rmtree(caches, ignore_errors=True)
        for lock in project.glob("pylock.*.toml"):
            lock.unlink()
        cold_env = {**env, "UV_CACHE_DIR": str(caches / "uv"), "PODLOCK_CACHE_DIR": str(caches)}
        try:
            return timed(argv, cold_env)
        finally:
            shutil.rmtree(caches, ignore_errors=True)

    def podlock_upgrade() -> float:
        return timed([*podlock, "lock", "--upgrade", "--project", str(project)], env)

    def podlock_noop() -> float:
        return timed([*podlock, "lock", "--project", str(project)], env)

    def podlock_check() -> float:
        return timed([*podlock, "lock", "--check", "--project", str(project)], env)

    compile_s = median(uv_compile, args.runs)
    full_s = median(podlock_full, args.runs)
    changed_s = median(podlock_changed, args.runs)
    online_s = median(podlock_online, args.runs)
    cold_uv_s = median(lambda: cold(compile_argv), args.runs)
    cold_s = median(lambda: cold([*podlock, "lock", "--project", str(project)]), args.runs)
    timed([*podlock, "lock", "--upgrade", "--project", str(project)], env)  # record again
    upgrade_s = median(podlock_upgrade, args.runs)
    noop_s = median(podlock_noop, args.runs)
    check_s = median(podlock_check, args.runs)
    print(f"reference project, Python 3.12, median of {args.runs} runs, warm caches")
    print(f"  uv pip compile --universal (cpu only)      {compile_s:6.2f} s")
    print(f"  podlock lock, cpu+cuda+tpu, no preferences {full_s:6.2f} s  "
          f"ratio {full_s / compile_s:.2f}x  (goal <= 1.3x)")  # fmt: skip
    print(f"  podlock lock, an index page changed        {changed_s:6.2f} s  "
          f"ratio {changed_s / compile_s:.2f}x  (goal <= 1.5x)")  # fmt: skip
    print(f"  podlock lock, no record of pages (online)  {online_s:6.2f} s  "
          f"ratio {online_s / compile_s:.2f}x")  # fmt: skip
    print(f"  cold caches (a fresh CI runner): uv compile {cold_uv_s:6.2f} s, podlock lock "
          f"{cold_s:.2f} s  ratio {cold_s / cold_uv_s:.2f}x")  # fmt: skip
    print(f"  podlock lock --upgrade, cpu+cuda+tpu       {upgrade_s:6.2f} s  "
          f"ratio {upgrade_s / compile_s:.2f}x")  # fmt: skip
    print(f"  podlock lock (no-op)                       {noop_s:6.2f} s  (goal <= 0.5 s)")
    print(f"  podlock lock --check                       {check_s:6.2f} s  (goal <= 0.5 s)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
