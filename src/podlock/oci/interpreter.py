"""Which CPython interpreters a base image has, found by reading its layers (no engine).

The layers are merged by ``registry.rootfs`` (whiteouts applied), looking only at the usual
places (``/usr/local/bin`` for python:*-slim, ``/usr/bin`` for Debian's, conda, ``/opt/python``).
The answer is cached per base config digest, so a base is read once.
"""

from __future__ import annotations

import json
import re

from podlock.atomic import write_atomic
from podlock.errors import PodlockError
from podlock.paths import cache_dir
from podlock.registry.base import BaseImage
from podlock.registry.blobs import BlobStore
from podlock.registry.model import canonical, digest_of, hex_of
from podlock.registry.rootfs import read_rootfs

DIRS = ("usr/local/bin", "usr/bin", "opt/conda/bin", "opt/python/bin", "bin")
_NAME = re.compile(r"^python(3\.\d+)$")


class NoInterpreter(PodlockError):
    pass


def interpreters(base: BaseImage, store: BlobStore) -> dict[str, str]:
    """``{"3.11": "/usr/bin/python3.11", ...}``: the first directory of DIRS wins per version.
    Cost: one decompressing read of every base layer, once per base."""
    # v2: answers of the reader that applies whiteouts to deleted directories' children
    # (v1's could name an interpreter a later layer had deleted).
    memo = cache_dir() / "oci" / "interpreters-v2" / f"{hex_of(_config_digest(base))}.json"
    try:
        return dict(json.loads(memo.read_text()))
    except (FileNotFoundError, ValueError):
        pass
    tree = read_rootfs(base, store, keep=_interpreter_path)
    present = sorted(p for p, f in tree.items() if f.kind in ("file", "symlink", "hardlink"))
    found: dict[str, str] = {}
    for folder in DIRS:
        for path in present:
            head, _, name = path.rpartition("/")
            m = _NAME.match(name)
            if head == folder and m and m.group(1) not in found:
                found[m.group(1)] = f"/{path}"
    memo.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(memo, json.dumps(found, sort_keys=True))  # concurrent builds: no shared .tmp
    return found


def interpreter_for(base: BaseImage, python: str, store: BlobStore) -> str:
    """The base's CPython ``python`` (X.Y); a base without one is a clear error."""
    found = interpreters(base, store)
    if python in found:
        return found[python]
    have = ", ".join(f"{v} ({p})" for v, p in sorted(found.items())) or "no CPython at all"
    raise NoInterpreter(
        f"base image {base.name or base.digest} ({base.platform}) has no python{python} "
        f"in {', '.join('/' + d for d in DIRS)}; it has {have}",
        hint=f"use a base with CPython {python} (e.g. python:{python}-slim), or lock for a "
        'Python the base has (python = "X.Y" in the podlock config)',
    )


def _config_digest(base: BaseImage) -> str:
    return digest_of(canonical(dict(base.config)))


def _interpreter_path(path: str) -> bool:
    head, _, name = path.rpartition("/")
    return head in DIRS and bool(_NAME.match(name))
