"""The tools podlock drives: its own uv, the environment uv runs in, and a CPython X.Y.

``uv lock`` insists on a CPython matching the target; only the version matters (nothing is
installed into it). Without one podlock says how to get it rather than letting uv try
downloads that cannot work offline.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sys
from pathlib import Path

from podlock.errors import PodlockError
from podlock.process import run

_found: dict[str, str] = {}

# Settings from the user's environment that would change what podlock asks uv to do.
_UV_ENV_DROP = re.compile(
    r"^UV_(INDEX|DEFAULT_INDEX|INDEX_URL|EXTRA_INDEX_URL|FIND_LINKS|NO_INDEX|PRERELEASE|"
    r"CONSTRAINT|OVERRIDE|EXCLUDE_NEWER|RESOLUTION|INDEX_STRATEGY|PROJECT|CONFIG_FILE).*"
)


def uv_binary() -> str:
    """The uv that ships with podlock (the ``uv`` wheel)."""
    import uv

    return str(uv.find_uv_bin())


def uv_env() -> dict[str, str]:
    """The environment for a uv child: the user's, without the settings podlock decides
    (indexes, pre-releases, constraints...), and never a Python download. uv retries as
    podlock does when only ``PODLOCK_HTTP_RETRIES`` is set."""
    env = {k: v for k, v in os.environ.items() if not _UV_ENV_DROP.match(k)}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    if "PODLOCK_HTTP_RETRIES" in env:
        env.setdefault("UV_HTTP_RETRIES", env["PODLOCK_HTTP_RETRIES"])
    return env


def find_python(version: str, uv: str) -> str:
    """Path of a CPython ``version`` (``"3.12"``). Cost: cached; ~20 ms on a miss."""
    if version in _found:
        return _found[version]
    candidates: list[str] = []
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        candidates.append(sys.executable)
    home = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(
        glob.glob(f"{home}/versions/{version}.*/bin/python{version}"), reverse=True
    )
    which = shutil.which(f"python{version}")
    if which and "/shims/" not in which:
        candidates.append(which)
    for path in candidates:
        if os.access(path, os.X_OK):
            _found[version] = path
            return path
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    done = run([uv, "python", "find", "--no-config", version], env=env, check=False)
    if done.returncode == 0 and done.stdout.strip():
        _found[version] = done.stdout.strip()
        return _found[version]
    raise PodlockError(
        f"no Python {version} interpreter found to resolve for",
        hint=f"install one (`uv python install {version}`, pyenv, or your OS packages), "
        'or set python = "X.Y" in [tool.podlock] to a version you have',
    )
