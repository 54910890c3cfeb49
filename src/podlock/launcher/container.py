"""``podlock run --backend docker``: the builder's image (built, or reused from the engine's
cache), CMD run in a container, its output and exit code passed through.

SIGINT/SIGTERM received here are sent on to the container; the container is removed when
it ends, whatever ended it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from podlock.builder.build import DockerOptions, build_docker
from podlock.engine import Engine
from podlock.errors import PodlockError
from podlock.plan.load import load_plan
from podlock.reporter import NullReporter, Reporter

_FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP")


def run_in_image(
    root: Path,
    variant: str,
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    network: str | None = None,
    engine: Engine | None = None,
    reporter: Reporter | None = None,
) -> int:
    """Build (cached steps are reused) and run ``command`` in the image; its exit code."""
    reporter = reporter or NullReporter()
    if not command:
        raise PodlockError("no command to run", hint="put it after `--`, e.g. `-- python main.py`")
    engine = engine or Engine.connect()
    options = DockerOptions(network=network)
    built = build_docker(load_plan(root, variant, reporter=reporter), options, engine, reporter)
    reporter.info(f"running in {built.ref}")
    return run_container(engine, built.ref, command, env=env, network=network)


def run_container(
    engine: Engine,
    image: str,
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    network: str | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
) -> int:
    """Run ``command`` in ``image``; stdout and stderr are kept apart."""
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr.buffer
    api = engine.client.api
    host_config = api.create_host_config(network_mode=network) if network else None
    created = api.create_container(
        image,
        command=list(command),
        environment=dict(env or {}),
        host_config=host_config,
        labels={"dev.podlock.run": "1"},
    )
    cid = str(created["Id"])
    previous: dict[int, Any] = {}
    try:
        stream: Iterator[tuple[bytes | None, bytes | None]] = api.attach(
            cid, stream=True, stdout=True, stderr=True, logs=True, demux=True
        )

        def forward(signum: int, _frame: object) -> None:
            with contextlib.suppress(Exception):  # it may have ended in between
                api.kill(cid, signal=signum)

        for name in _FORWARDED:
            try:
                previous[getattr(signal, name)] = signal.signal(getattr(signal, name), forward)
            except ValueError:  # not the main thread
                break
        api.start(cid)
        for chunk_out, chunk_err in stream:
            if chunk_out:
                out.write(chunk_out)
                out.flush()
            if chunk_err:
                err.write(chunk_err)
                err.flush()
        result = api.wait(cid)
        return int(result.get("StatusCode", 1))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with contextlib.suppress(Exception):  # already gone
            api.remove_container(cid, force=True)
