"""Bench: podlock's layered build against a Kinetic-style Dockerfile, same project, same engine.

Kinetic-style: one `pip install -r requirements.txt` layer, then the code. Three builds
each: cold (no cache), after adding one small dependency, and after a code-only change.
Run by hand (needs the engine and the base image; as root, `python tests/provision.py`
installs and starts what is missing):

    python bench/build.py                    # bench/ml-project: jax, flax, optax, numpy, pandas
    python bench/build.py --project fixture  # the hello fixture project on the local fixture index
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from index_server import IndexServer  # noqa: E402
from podlock.builder.build import DockerOptions, build_docker  # noqa: E402
from podlock.cli.main import main as podlock  # noqa: E402
from podlock.engine import Engine  # noqa: E402
from podlock.plan.load import load_plan  # noqa: E402
from services import base_image_id  # noqa: E402
from testkit import BASE_IMAGE, HELLO, project_config  # noqa: E402

KINETIC = """FROM {base}
COPY ca.crt /etc/ssl/certs/podlock-bench-ca.crt
ENV PIP_CERT=/etc/ssl/certs/podlock-bench-ca.crt
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY {requirements} /app/requirements.txt
RUN pip install --no-cache-dir {index} -r /app/requirements.txt
COPY . /app
WORKDIR /app
"""
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def kinetic_build(
    engine: Engine,
    root: Path,
    index_url: str | None,
    *,
    nocache: bool,
    requirements: str = "requirements.txt",
) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        index = f"--index-url {index_url}" if index_url else ""
        dockerfile = KINETIC.format(base=BASE_IMAGE, index=index, requirements=requirements)
        files = (("Dockerfile", dockerfile.encode()), ("ca.crt", CA_BUNDLE.read_bytes()))
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.startswith("pylock."):
                tar.add(path, arcname=str(path.relative_to(root)))
    data.seek(0)
    stream = engine.client.api.build(
        fileobj=data, custom_context=True, network_mode="host", nocache=nocache, rm=True,
        decode=True, tag="podlock-bench/kinetic:latest",
    )  # fmt: skip
    for chunk in stream:
        if "error" in chunk:
            raise SystemExit(f"kinetic build failed: {chunk['error']}")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--project", choices=("ml", "fixture"), default="ml",
        help="ml: bench/ml-project (jax, flax, optax, numpy, pandas from PyPI); "
        "fixture: the hello project on the local fixture index",
    )  # fmt: skip
    args = parser.parse_args()
    engine = Engine.connect()
    base_image_id(engine.client)  # imported from the provisioned root filesystem if missing
    with tempfile.TemporaryDirectory(prefix="podlock-bench-") as tmp:
        work = Path(tmp)
        os.environ["PODLOCK_CACHE_DIR"] = str(work / "cache")
        os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
        bench = bench_ml if args.project == "ml" else bench_fixture
        rows = bench(engine, work)
    print(f"{'build':<28}{'podlock s':>11}{'kinetic s':>11}{'podlock/kinetic':>17}")
    for name, a, b in rows:
        print(f"{name:<28}{a:>11.2f}{b:>11.2f}{a / b:>17.2f}")
    return 0


Rows = list[tuple[str, float, float]]


def bench_ml(engine: Engine, work: Path) -> Rows:
    """The ML project from PyPI. The Kinetic-style build installs the same pinned versions
    (the lock exported as requirements) with pip, downloading inside the build."""
    root = work / "ml-project"
    shutil.copytree(ROOT / "bench" / "ml-project", root, ignore=shutil.ignore_patterns("pylock.*"))
    assert podlock(["-q", "lock", "--project", str(root)]) == 0
    pins = root / "pins.txt"

    def export() -> None:
        with open(pins, "w") as out, contextlib.redirect_stdout(out):
            code = podlock(["-q", "export", "--project", str(root), "--variant", "cpu",
                            "--platform", "linux/amd64"])  # fmt: skip
        assert code == 0

    def ours(nocache: bool = False) -> None:
        options = DockerOptions(network="host", tag="podlock-bench/podlock:latest",
                                no_cache=nocache)  # fmt: skip
        build_docker(load_plan(root, "cpu"), options, engine)

    def theirs(nocache: bool = False) -> None:
        kinetic_build(engine, root, None, nocache=nocache, requirements="pins.txt")

    export()
    rows = [("cold build", timed(lambda: ours(True)), timed(lambda: theirs(True)))]
    reqs = root / "requirements.txt"
    reqs.write_text(reqs.read_text() + "idna\n")
    assert podlock(["-q", "lock", "--project", str(root)]) == 0
    export()
    rows.append(("add one small dependency", timed(ours), timed(theirs)))
    (root / "main.py").write_text((root / "main.py").read_text() + "print('v2')\n")
    rows.append(("code-only change", timed(ours), timed(theirs)))
    return rows


def bench_fixture(engine: Engine, work: Path) -> Rows:
    make_py = ROOT / "fixtures" / "index" / "make_index.py"
    spec = importlib.util.spec_from_file_location("make_index", make_py)
    assert spec and spec.loader
    make_index = importlib.util.module_from_spec(spec)
    sys.modules["make_index"] = make_index
    spec.loader.exec_module(make_index)
    make_index.build_index(work / "index")
    with IndexServer(work / "index") as index:
        root = work / "hello"
        shutil.copytree(HELLO, root)
        (root / "podlock.toml").write_text(project_config(index))
        assert podlock(["-q", "lock", "--project", str(root)]) == 0

        def ours(nocache: bool = False) -> None:
            options = DockerOptions(network="host", tag="podlock-bench/podlock:latest",
                                    no_cache=nocache)  # fmt: skip
            build_docker(load_plan(root, "cpu", heavy_bytes=1 << 20), options, engine)

        def theirs(nocache: bool = False) -> None:
            kinetic_build(engine, root, index.url("pypi"), nocache=nocache)

        rows = [("cold build", timed(lambda: ours(True)), timed(lambda: theirs(True)))]
        reqs = root / "requirements.txt"
        reqs.write_text(reqs.read_text() + "idna\n")
        assert podlock(["-q", "lock", "--project", str(root)]) == 0
        rows.append(("add one small dependency", timed(ours), timed(theirs)))
        (root / "pkg" / "greeting.py").write_text('GREETING = "bench v2"\n')
        rows.append(("code-only change", timed(ours), timed(theirs)))
        return rows


if __name__ == "__main__":
    raise SystemExit(main())
