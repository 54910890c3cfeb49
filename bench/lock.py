"""Lock the reference project with both backends, cold and warm; print times and ratios.

Manual, not a test (it talks to the real index)::

    python bench/lock.py [--python 3.12] [--repeat 1]

Cold: empty podlock and uv caches. Warm: the same caches again, after one untimed
warm-up run, with --upgrade so that both backends really resolve (no lock preferences,
no no-op shortcut).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from podlock.inputs.discover import discover
from podlock.resolver import backend
from podlock.resolver.model import ResolveOptions
from podlock.resolver.pipeline import lock

REQUIREMENTS = """\
jax
flax
optax
orbax-checkpoint
transformers
datasets
numpy
pandas
scikit-learn
"""


def one(name: str, root: Path, *, upgrade: bool) -> tuple[float, dict[str, dict[str, str]]]:
    inputs = discover(root)
    start = time.perf_counter()
    results = lock(
        inputs,
        list(inputs.config.variants),
        backend=backend(name),
        mode=ResolveOptions(upgrade=upgrade),
    )
    elapsed = time.perf_counter() - start
    pins = {
        r.variant: {p.name: p.version or "" for p in r.lock.packages}
        for r in results
        if r.lock is not None
    }
    return elapsed, pins


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12")
    parser.add_argument("--repeat", type=int, default=1, help="warm runs (best is kept)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="podlock-bench-"))
    times: dict[tuple[str, str], float] = {}
    pins: dict[str, dict[str, dict[str, str]]] = {}
    for name in ("uv", "python"):
        root = work / name
        root.mkdir()
        (root / "requirements.txt").write_text(REQUIREMENTS)
        (root / "podlock.toml").write_text(
            f'python = "{args.python}"\nvariants = ["cpu", "cuda", "tpu"]\n'
        )
        os.environ["PODLOCK_CACHE_DIR"] = str(work / f"cache-{name}")
        os.environ["UV_CACHE_DIR"] = str(work / f"uv-cache-{name}")
        times[(name, "cold")], pins[name] = one(name, root, upgrade=False)
        # One untimed run first, for both backends: the uv backend vouches for uv's cache
        # only with pages fetched before an earlier online run (resolver/freshness.py).
        one(name, root, upgrade=True)
        times[(name, "warm")] = min(
            one(name, root, upgrade=True)[0] for _ in range(max(1, args.repeat))
        )
        packages = sum(len(v) for v in pins[name].values())
        print(
            f"{name:>6}: cold {times[(name, 'cold')]:6.2f} s   warm {times[(name, 'warm')]:6.2f} s"
            f"   ({packages} pins over {len(pins[name])} variants)"
        )
    for phase in ("cold", "warm"):
        ratio = times[("python", phase)] / times[("uv", phase)]
        print(f"{phase}: python/uv = {ratio:.2f}x (goal <= 2x)")
    same = pins["python"] == pins["uv"]
    print(f"identical pins: {same}")
    if not same:
        for variant in sorted(pins["uv"]):
            a, b = pins["uv"][variant], pins["python"].get(variant, {})
            for pkg in sorted(set(a) | set(b)):
                if a.get(pkg) != b.get(pkg):
                    print(f"  {variant}: {pkg}: uv {a.get(pkg)} python {b.get(pkg)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
