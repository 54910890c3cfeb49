"""The target Python when config names none: ``.python-version``, else the Python the
existing locks were written for, else the running interpreter.

So ``lock --check`` gives the same answer whichever interpreter runs podlock: once locks
exist, they (not the CI runner's Python) decide.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from podlock.errors import InputError
from podlock.inputs.config import running_python
from podlock.paths import lock_path
from podlock.platforms import parse_python

PYTHON_VERSION_FILE = ".python-version"

_VERSION = re.compile(r"^(?:cpython[@-]?)?(\d+)\.(\d+)(?:[.\-+].*)?$", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class TargetPython:
    """The chosen ``X.Y`` and where it came from (a file name, or ``interpreter``)."""

    version: str
    origin: str
    note: str | None = None  # said to the user when the choice is worth knowing


def choose_python(root: Path, variants: Sequence[str]) -> TargetPython:
    """The target Python for ``variants`` (those without a python of their own).

    Cost: reads ``.python-version``, else at most one lock per variant.
    """
    dotfile = root / PYTHON_VERSION_FILE
    if dotfile.is_file():
        return TargetPython(version=_read_python_version(dotfile), origin=PYTHON_VERSION_FILE)
    found: dict[str, str] = {}
    for name in variants:
        python = _lock_python(lock_path(root, name))
        if python is not None:
            found[lock_path(root, name).name] = python
    if found:
        origin, version = next(iter(found.items()))
        note = None
        if len(set(found.values())) > 1:
            seen = ", ".join(f"{f}: {v}" for f, v in found.items())
            note = (
                f"the locks were written for different Pythons ({seen}); using {version} "
                f'from {origin}. Set python = "X.Y" in the podlock config to choose'
            )
        return TargetPython(version=version, origin=origin, note=note)
    version = running_python()
    return TargetPython(
        version=version,
        origin="interpreter",
        note=f"no python in the podlock config, no {PYTHON_VERSION_FILE} and no lock yet: "
        f'locking for Python {version}, the running interpreter (add python = "{version}" '
        "to the podlock config to keep it whoever runs podlock)",
    )


def _read_python_version(path: Path) -> str:
    """uv's ``.python-version``: the first entry, ``3.12``, ``3.12.4`` or ``cpython@3.12``."""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        m = _VERSION.match(text)
        if m is None:
            raise InputError(
                f"cannot read a CPython version from {text!r}",
                file=PYTHON_VERSION_FILE,
                line=number,
                hint='write X.Y (e.g. "3.12"), or set python in the podlock config',
            )
        return parse_python(f"{m.group(1)}.{m.group(2)}", where=PYTHON_VERSION_FILE)
    raise InputError(
        "names no Python version",
        file=PYTHON_VERSION_FILE,
        hint='write X.Y (e.g. "3.12"), or delete the file',
    )


def _lock_python(path: Path) -> str | None:
    """The Python an existing lock records; None when there is none or it can't be read
    (a corrupt lock is reported by ``lock --check``, not here)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    python = data.get("tool", {}).get("podlock", {}).get("python")
    try:
        return parse_python(python) if isinstance(python, str) else None
    except InputError:
        return None
