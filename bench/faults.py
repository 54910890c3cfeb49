"""Bench: the network paths at 10% injected faults against fault-free; prints the ratio.

The fixture index and a local registry, each behind tests/fault_proxy.py (503, 429 with
Retry-After: 1, dropped connections, cut bodies, long Content-Lengths). Each step runs
from empty caches, ``--repeat`` times per rate; the median is compared. The goal is a
ratio of at most 1.5x. podlock's own backoff settings are used unless ``--backoff`` sets
PODLOCK_HTTP_BACKOFF (the 429s' Retry-After is honoured up to PODLOCK_HTTP_MAX_WAIT).

    python bench/faults.py [--rate 0.1] [--repeat 3] [--backoff 0.5]
    python bench/faults.py --mirror /opt/pypi [--project bench/ml-project]

Steps: ``lock`` (uv and python resolvers), ``build --builder oci`` into a layout, and,
with a docker-registry binary, ``build --push``. The daemonless build needs the test
base tarball under /var/cache/podlock-test (``python tests/provision.py`` makes it).

``--mirror DIR``: instead, lock ``--project`` (a real resolution: ml-project is jax, flax,
optax, numpy, pandas; 40-odd packages) against DIR, a PEP 503 tree on disk
(``simple/<project>/index.html`` linking into ``files/``, as pip's ``file://`` indexes),
served over loopback with ``Range`` (no PEP 658 metadata: uv reads each wheel's METADATA
with range requests), behind the proxy.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import importlib.util
import io
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import services  # noqa: E402
from fault_proxy import Faults, fault_proxy  # noqa: E402
from index_server import IndexServer  # noqa: E402
from podlock.cli.main import main as podlock  # noqa: E402
from testkit import HELLO, project_config  # noqa: E402


def build_index(out: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "make_index", ROOT / "fixtures" / "index" / "make_index.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_index"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    module.build_index(out)


def quiet(*argv: str) -> None:
    """``podlock ARGV``, its output swallowed; a failure stops the bench with its stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = podlock(list(argv))
    if code != 0:
        raise SystemExit(f"podlock {' '.join(argv)} failed ({code}):\n{err.getvalue()[-3000:]}")


def fresh(where: Path) -> None:
    shutil.rmtree(where, ignore_errors=True)
    os.environ["PODLOCK_CACHE_DIR"] = str(where / "podlock-cache")
    os.environ["UV_CACHE_DIR"] = str(where / "uv-cache")


def timed(step: Callable[[Path], None], work: Path, faults: list[Faults], rate: float) -> float:
    for f in faults:
        f.rate, f.seed = rate, int(time.time() * 1000)
        f.seen.clear()
    fresh(work)
    start = time.perf_counter()
    step(work)
    return time.perf_counter() - start


@contextlib.contextmanager
def maybe_registry(tmp: Path) -> Iterator[str | None]:
    try:
        with services.registry(tmp / "registry") as running:
            yield running.address
    except services.Missing:
        yield None


class _Static(http.server.SimpleHTTPRequestHandler):
    """Files under the server's directory, with single ``Range`` requests answered (206),
    as an index's file host does; HTTP/1.1, so connections are kept."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def send_head(self) -> io.BytesIO | None:  # type: ignore[override]
        path = self.translate_path(self.path)
        found = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if found is None or not os.path.isfile(path):
            return super().send_head()  # type: ignore[return-value]
        size = os.path.getsize(path)
        first, last = found.groups()
        start = int(first) if first else max(0, size - int(last or 0))
        end = min(int(last), size - 1) if first and last else size - 1
        if start >= size:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return io.BytesIO(data)


@contextlib.contextmanager
def mirror(root: Path) -> Iterator[str]:
    """``root`` served on loopback; host:port."""
    handler = type("Handler", (_Static,), {"__init__": _rooted(root)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _rooted(root: Path) -> Callable[..., None]:
    def init(self: _Static, *args: Any, **kwargs: Any) -> None:
        _Static.__init__(self, *args, directory=str(root), **kwargs)

    return init


def mirror_steps(args: argparse.Namespace, tmp: Path) -> None:
    """The lock rows only, for ``--project`` against ``--mirror`` behind the proxy."""
    with (
        mirror(args.mirror) as upstream,
        fault_proxy(Faults(upstream=upstream, rate=0)) as idx,
    ):
        root = tmp / "project"
        shutil.copytree(args.project, root)
        for lock in root.glob("pylock.*.toml"):
            lock.unlink()
        config = root / "podlock.toml"
        config.write_text(f'index-url = "http://{idx.address}/simple"\n{config.read_text()}')
        steps: dict[str, Callable[[Path], None]] = {
            f"lock (uv), {args.project.name}": lambda w: quiet(
                "lock", "--project", str(root), "--upgrade"
            ),
            f"lock (python), {args.project.name}": lambda w: quiet(
                "lock", "--project", str(root), "--upgrade", "--resolver", "python"
            ),
        }
        report(steps, tmp / "work", [idx], args.rate, args.repeat)
        served = sum(idx.seen.values())
        print(f"(the last run: {served} requests through the proxy)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backoff", type=float, default=None)
    ap.add_argument("--mirror", type=Path, help="a PEP 503 tree on disk: lock --project on it")
    ap.add_argument("--project", type=Path, default=ROOT / "bench" / "ml-project")
    args = ap.parse_args()
    if args.backoff is not None:
        os.environ["PODLOCK_HTTP_BACKOFF"] = str(args.backoff)
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    os.environ.setdefault("UV_HTTP_RETRIES", "8")
    if args.mirror:
        with tempfile.TemporaryDirectory(prefix="podlock-bench-faults-") as tmp_name:
            mirror_steps(args, Path(tmp_name))
        return
    bases = sorted(Path("/var/cache/podlock-test").glob("base-*.docker.tar"))
    with tempfile.TemporaryDirectory(prefix="podlock-bench-faults-") as tmp_name:
        tmp = Path(tmp_name)
        build_index(tmp / "index")
        with (
            IndexServer(tmp / "index") as index,
            fault_proxy(Faults(upstream=f"{index.host}:{index.port}", rate=0)) as idx,
            maybe_registry(tmp) as registry,
            contextlib.ExitStack() as stack,
        ):
            root = tmp / "hello"
            shutil.copytree(HELLO, root)
            text = project_config(index, platforms='["linux/amd64"]')
            (root / "podlock.toml").write_text(
                text.replace(f"{index.host}:{index.port}", idx.address)
            )
            faults = [idx]
            reg = None
            if registry:
                reg = stack.enter_context(fault_proxy(Faults(upstream=registry, rate=0)))
                faults.append(reg)
            steps: dict[str, Callable[[Path], None]] = {
                "lock (uv)": lambda w: quiet("lock", "--project", str(root), "--upgrade"),
                "lock (python)": lambda w: quiet(
                    "lock", "--project", str(root), "--upgrade", "--resolver", "python"
                ),
            }
            if bases:
                base = f"docker-archive:{bases[-1]}"
                build = ("build", "--builder", "oci", "--project", str(root), "--variant", "cpu")
                steps["build --builder oci"] = lambda w: quiet(
                    *build, "--base", base, "--output-dir", str(w / "layout")
                )
                if reg:
                    steps["build --push"] = lambda w: quiet(
                        *build, "--base", base,
                        "--push", f"{reg.address}/bench/faults-{uuid.uuid4().hex[:8]}:v1",
                    )  # fmt: skip
            report(steps, tmp / "work", faults, args.rate, args.repeat)


def report(
    steps: dict[str, Callable[[Path], None]],
    work: Path,
    faults: list[Faults],
    rate: float,
    repeat: int,
) -> None:
    print(f"{'step':24} {'fault-free':>11} {f'{rate:.0%} faults':>11} {'ratio':>7}")
    total_clean = total_faulty = 0.0
    for name, step in steps.items():
        step(work)  # warm-up: the interpreter's imports, the base tarball in the page cache
        clean = statistics.median(timed(step, work, faults, 0.0) for _ in range(repeat))
        faulty = statistics.median(timed(step, work, faults, rate) for _ in range(repeat))
        total_clean, total_faulty = total_clean + clean, total_faulty + faulty
        print(f"{name:24} {clean:10.2f}s {faulty:10.2f}s {faulty / clean:6.2f}x")
    print(
        f"{'all':24} {total_clean:10.2f}s {total_faulty:10.2f}s {total_faulty / total_clean:6.2f}x"
    )


if __name__ == "__main__":
    main()
