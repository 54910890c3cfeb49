"""Bench: CI runners against a local registry, the registry being the layer cache.

Each "fresh runner" is a new, empty podlock cache (no wheels, no layers, no blobs) that
builds bench/ml-project with the daemonless builder and pushes it. Rows:
- cold: nothing anywhere (an empty repository; wheels from PyPI);
- fresh runner, code change: another runner pushed before; main.py changed;
- fresh runner, one small dependency added (the lock rewritten beforehand, not timed);
- warm runner, code change: the same runner again (its cache is warm).
Wheel bytes downloaded are the .whl files in the runner's cache afterwards. Run by hand
(needs the engine for the base image tarball and Debian's docker-registry, both provisioned
by `python tests/provision.py` as root; the network for PyPI):

    python bench/ci.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from podlock.cli.main import main as podlock  # noqa: E402
from podlock.engine import Engine  # noqa: E402
from podlock.oci.build import OciOptions, OciResult, build_oci  # noqa: E402
from podlock.plan.load import load_plan  # noqa: E402
from services import base_archive, registry  # noqa: E402

SMALL_DEP = "six"


def wheel_bytes(cache: Path) -> int:
    return sum(p.stat().st_size for p in cache.rglob("*.whl"))


def main() -> int:
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    engine = Engine.connect()
    base = f"docker-archive:{base_archive(engine.client)}"
    with tempfile.TemporaryDirectory(prefix="podlock-bench-ci-") as tmp:
        work = Path(tmp)
        root = work / "ml-project"
        shutil.copytree(ROOT / "bench" / "ml-project", root)
        with registry(work / "registry") as reg:
            ref = f"{reg.address}/bench/ml-{uuid.uuid4().hex[:8]}:ci"
            rows: list[tuple[str, float, OciResult, int]] = []

            def runner(name: str, label: str) -> None:
                cache = work / "runners" / name
                os.environ["PODLOCK_CACHE_DIR"] = str(cache)
                before = wheel_bytes(cache) if cache.exists() else 0
                start = time.perf_counter()
                # podlock's defaults (heavy layers from 10 MiB), as a user's CI would run it
                result = build_oci(load_plan(root, "cpu", base=base), OciOptions(push_to=ref))
                seconds = time.perf_counter() - start
                rows.append((label, seconds, result, wheel_bytes(cache) - before))

            runner("a", "cold (nothing anywhere)")
            main_py = root / "main.py"
            main_py.write_text(main_py.read_text() + "# a code change\n")
            runner("b", "fresh runner, code change")
            reqs = root / "requirements.txt"
            reqs.write_text(reqs.read_text() + f"{SMALL_DEP}\n")
            os.environ["PODLOCK_CACHE_DIR"] = str(work / "lock-cache")
            assert podlock(["-q", "lock", "--project", str(root)]) == 0
            runner("c", f"fresh runner, {SMALL_DEP} added")
            main_py.write_text(main_py.read_text() + "# another change\n")
            runner("c", "warm runner, code change")
    cold = rows[0][1]
    print(f"{'case':38} {'seconds':>8} {'x cold':>7} {'wheels MB':>10} {'built':>24} remote")
    for label, seconds, result, wheels in rows:
        print(
            f"{label:38} {seconds:8.2f} {seconds / cold:7.3f} {wheels / 1e6:10.1f} "
            f"{','.join(result.layers_built) or '-':>24} {','.join(result.layers_remote) or '-'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
