"""Wheels installed into a layer tree for the image's Python, and the venv podlock writes.

``installer`` does the unpacking (with its path checks: a wheel entry that would land
outside its scheme directory is refused). Paths are the image's: console-script shebangs
name ``/opt/venv/bin/python``, and nothing of the host leaks in. Bytecode is compiled with
unchecked-hash invalidation (mtimes do not matter) by a CPython of the image's X.Y, in a
subprocess with a fixed hash seed (set and frozenset constants are marshalled in hash
order), so the same wheels give the same ``.pyc`` bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.sources import WheelFile

from podlock.errors import PodlockError, ToolError
from podlock.layers.tarlayer import Entry, LayerError, directory, file, symlink
from podlock.plan.layerplan import VENV, Wheel
from podlock.process import run
from podlock.reporter import Reporter

# The child's program: a real file of the package (linted and type-checked), run with -c.
_COMPILE = (resources.files("podlock.layers") / "files" / "compile_stdin.py").read_text("utf-8")


@dataclass(frozen=True, kw_only=True)
class Target:
    """The image's Python: version X.Y, its venv, and the base interpreter the venv links to."""

    python: str
    # e.g. /usr/bin/python3.11, found in the base image's layers; only the venv skeleton
    # (venv_entries) needs it, wheel trees do not.
    interpreter: str = ""
    venv: str = VENV

    @property
    def site_packages(self) -> str:
        return f"{self.venv}/lib/python{self.python}/site-packages"

    def scheme(self, distribution: str) -> dict[str, str]:
        return {
            "purelib": self.site_packages,
            "platlib": self.site_packages,
            "scripts": f"{self.venv}/bin",
            "headers": f"{self.venv}/include/site/python{self.python}/{distribution}",
            "data": self.venv,
        }


def install_wheels(
    wheels: Sequence[tuple[Wheel, Path]], root: Path, target: Target, *, layer: str
) -> None:
    """Install ``wheels`` under ``root`` (the image's ``/``); each wheel gets a root of its own
    (files shared between wheels are merged later, as pip would: ``installed.merge``). A
    wheel that writes outside its place or is not a valid wheel is an error naming it."""
    for wheel, path in wheels:
        try:
            with WheelFile.open(path) as source, warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # __pycache__ in a wheel: skipped
                destination = SchemeDictionaryDestination(
                    target.scheme(source.distribution),
                    interpreter=f"{target.venv}/bin/python",
                    script_kind="posix",
                    destdir=str(root),
                )
                install(source, destination, additional_metadata={"INSTALLER": b"podlock\n"})
        except ValueError as exc:
            raise LayerError(
                f"layer {layer}: wheel {wheel.filename} ({wheel.package}) is unsafe: {exc}",
                hint="a wheel may only write inside the venv; this one is corrupt or malicious",
            ) from None
        except FileExistsError as exc:
            raise LayerError(
                f"layer {layer}: {wheel.filename} ({wheel.package}) writes one file twice: {exc}",
                hint="the wheel is not valid; check the index that serves it",
            ) from None
        except (InstallerError, zipfile.BadZipFile, KeyError) as exc:
            raise LayerError(
                f"layer {layer}: cannot install {wheel.filename} ({wheel.package}): {exc}",
                hint="the wheel is not valid; check the index that serves it",
            ) from None


def compile_bytecode(
    roots: Sequence[Path], target: Target, python: str | None, reporter: Reporter
) -> int:
    """``.pyc`` (unchecked-hash) for every ``.py`` under the venv of each root (an image
    ``/``), in one pass over all of them; returns how many compiled. With no interpreter of
    the image's X.Y (``python`` None) it warns and compiles none."""
    lines = []
    for root in roots:
        venv = root / target.venv.lstrip("/")
        for p in sorted(p for p in venv.rglob("*.py") if p.is_file()):
            lines.append(f"{p}\0/{p.relative_to(root).as_posix()}\n")
    if not lines:
        return 0
    if python is None:
        reporter.warn(
            f"no CPython {target.python} on this machine: the image gets no .pyc files "
            f"(first imports compile them at run time); install python{target.python} to fix"
        )
        return 0
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8"}
    # Each file's .pyc depends only on that file, so the work is split across processes.
    parts = max(1, min(os.cpu_count() or 1, len(lines) // 200))
    chunks = ["".join(lines[i::parts]) for i in range(parts)]
    with ThreadPoolExecutor(max_workers=parts) as pool:
        outputs = list(
            pool.map(lambda c: _run_stdin([python, "-I", "-c", _COMPILE], c, env), chunks)
        )
    return sum(int(out.split()[0]) for out in outputs)


def _run_stdin(argv: list[str], stdin: str, env: dict[str, str]) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise ToolError(
            f"compiling bytecode with {argv[0]} failed (exit {proc.returncode})",
            argv=argv[:3],
            output=proc.stderr[-2000:],
        )
    return proc.stdout


def compiler_for(python: str) -> tuple[str | None, str]:
    """An interpreter of CPython ``python`` (X.Y) to compile with, and its full version
    (part of the layer cache key: bytecode may differ between patch releases)."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == python:
        return sys.executable, ".".join(map(str, sys.version_info[:3]))
    try:
        from podlock.toolchain import find_python, uv_binary

        path = find_python(python, uv_binary())
    except PodlockError:
        return None, "none"
    version = run([path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]).stdout
    return path, version.strip()


def venv_entries(target: Target) -> list[Entry]:
    """The venv skeleton: ``pyvenv.cfg``, ``bin/python*`` links to the base interpreter and an
    empty site-packages. Depends only on the Python, so it is one shared layer."""
    venv = target.venv.strip("/")
    home = target.interpreter.rsplit("/", 1)[0]
    cfg = (
        f"home = {home}\n"
        "include-system-site-packages = false\n"
        f"version = {target.python}\n"
        f"executable = {target.interpreter}\n"
        f"command = podlock (venv for {target.interpreter})\n"
    )
    return [
        directory(f"{venv}/bin"),
        symlink(f"{venv}/bin/python", target.interpreter),
        symlink(f"{venv}/bin/python3", "python"),
        symlink(f"{venv}/bin/python{target.python}", "python"),
        directory(f"{venv}/include"),
        directory(f"{venv}/lib/python{target.python}/site-packages"),
        symlink(f"{venv}/lib64", "lib"),
        file(f"{venv}/pyvenv.cfg", cfg.encode()),
    ]
