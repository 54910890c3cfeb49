"""A local stand-in for the PyTorch CPU index: the real CPU torch wheel that lies in pip's
find-links directory on this machine, served as a PEP 503 index on loopback."""

from __future__ import annotations

import hashlib
import html
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from testkit import skip_or_fail


def _find_links() -> list[Path]:
    """pip's configured find-links directories (``pip config list``)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    )
    out = [os.environ.get("PIP_FIND_LINKS", "")]
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.endswith("find-links"):
            out.append(value.strip("'\""))
    return [Path(p) for v in out for p in v.split() if p and Path(p).is_dir()]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def cpu_torch_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    found = (w for d in _find_links() for w in d.glob("torch-*+cpu-cp311-cp311-*x86_64.whl"))
    wheels = sorted({w.name: w for w in found}.values())
    if not wheels:
        skip_or_fail("no CPU torch wheel (cp311, x86_64) in pip's find-links directories")
    root = tmp_path_factory.mktemp("pytorch-cpu")
    page = root / "simple" / "torch"
    page.mkdir(parents=True)
    links = []
    for wheel in wheels:
        (page / wheel.name).symlink_to(wheel)
        sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        links.append(f'<a href="{html.escape(wheel.name)}#sha256={sha}">{wheel.name}</a><br>')
    (page / "index.html").write_text(
        "<!DOCTYPE html><html><body>" + "".join(links) + "</body></html>"
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()
