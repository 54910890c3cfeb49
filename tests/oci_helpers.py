"""Helpers for the oci tests (a unique module name: conftest.py names collide)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path
from typing import Any

from podlock.oci.layout import Built
from podlock.oci.push import from_layout
from podlock.registry.blobs import BlobStore
from testkit import build_oci_at


def oci_build(cli: Any, root: Path, *extra: str) -> Any:
    """``podlock build --builder oci`` of the project's cpu variant; the CLI's result."""
    return cli("build", "--builder", "oci", "--project", str(root), "--variant", "cpu", *extra)


def built_layout(root: Path, layout: Path, base: str) -> tuple[BlobStore, Built]:
    """Build the project on ``base`` into the OCI layout ``layout`` (tag v1) and read it
    back, as ``podlock push --layout`` does."""
    build_oci_at(root, "cpu", base=base, output_dir=layout, tag="v1")
    store = BlobStore()
    return store, from_layout(layout, "v1", store)


def make_wheel(path: Path, name: str, files: dict[str, bytes]) -> Path:
    """A minimal pure wheel at ``path`` holding ``files`` (which may be hostile)."""
    dist = f"{name}-1.0.dist-info"
    record = "".join(f"{f},,\n" for f in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for f, data in files.items():
            z.writestr(f, data)
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        z.writestr(
            f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        z.writestr(f"{dist}/RECORD", record)
    return path


def run(*argv: str) -> str:
    """``argv``'s stdout; a non-zero exit fails the test with its stderr."""
    done = subprocess.run(list(argv), capture_output=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{argv} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return done.stdout.decode(errors="replace")
