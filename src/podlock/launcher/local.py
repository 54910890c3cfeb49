"""``podlock run --backend local``: a venv for this machine, built from the variant's lock.

The venv lives in ``<cache>/venvs/<project>-<variant>-<key>``, ``key`` a hash of the lock's
bytes and the host platform, so it is rebuilt only when the lock changes. It is built in a
temporary directory (``uv venv --relocatable`` + ``uv pip sync`` of the lock, hashes
enforced, no resolution) and renamed into place: an interrupted build leaves the previous
venv untouched. The warm path reads no lock: the venv's stamp records the lock fingerprint,
which is compared with the inputs' fingerprint (the same check as ``podlock lock --check``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from podlock.atomic import directory_in_place
from podlock.errors import LockError, PodlockError, ToolError
from podlock.inputs.config import VariantConfig
from podlock.inputs.discover import Inputs
from podlock.lock.fingerprint import fingerprint
from podlock.lock.pylock import LoadedLock
from podlock.paths import cache_dir, lock_path, mark_used
from podlock.platforms import Platform, host_platform
from podlock.process import run
from podlock.reporter import NullReporter, Reporter

STAMP = ".podlock-env.json"
_FORWARDED = ("SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


class CommandNotFound(PodlockError):
    exit_code = 127


@dataclass(frozen=True, kw_only=True)
class LocalEnv:
    """A ready venv; ``reused`` is False when this call built it."""

    path: Path
    reused: bool

    @property
    def bin(self) -> Path:
        return self.path / ("Scripts" if os.name == "nt" else "bin")


def venv_dir(inputs: Inputs, variant: VariantConfig, lock_bytes: bytes, target: Platform) -> Path:
    key = hashlib.sha256(lock_bytes + f"\0{target}".encode()).hexdigest()[:16]
    return venvs_root() / f"{inputs.name}-{variant.name}-{key}"


def venvs_root() -> Path:
    return cache_dir() / "venvs"


def cached(inputs: Inputs, variant: VariantConfig, target: Platform) -> Path | None:
    """The venv for the current lock, if it is built and the lock is fresh. Cost: one lock
    read and hash, one fingerprint; no TOML parsing of the lock."""
    try:
        data = lock_path(inputs.root, variant.name).read_bytes()
    except FileNotFoundError:
        return None
    path = venv_dir(inputs, variant, data, target)
    try:
        stamp = json.loads((path / STAMP).read_text())
    except (OSError, ValueError):
        return None
    if stamp.get("fingerprint") != fingerprint(inputs, variant):
        return None
    mark_used(path / STAMP)
    return path


def prepare(
    inputs: Inputs,
    variant: VariantConfig,
    *,
    frozen: bool = False,
    target: Platform | None = None,
    reporter: Reporter | None = None,
) -> LocalEnv:
    """The variant's venv for ``target`` (the host by default): reused, or locked and built."""
    reporter = reporter or NullReporter()
    target = target or host_platform()
    hit = cached(inputs, variant, target)
    if hit is not None:
        return LocalEnv(path=hit, reused=True)
    from podlock.lock.pylock import read_lock
    from podlock.lock.status import check
    from podlock.resolver import backend
    from podlock.resolver.pipeline import lock

    status = check(inputs, [variant])[0]
    loaded = status.loaded if status.ok else None
    if loaded is None:
        if frozen:
            raise LockError(
                f"{status.state}: {status.reason}" if status.reason else status.state,
                path=str(status.path),
                hint=f"run `podlock lock --variant {variant.name}`, or drop --frozen to "
                "let `podlock run` do it",
            )
        reporter.info(f"{status.path.name} is {status.state}; locking {variant.name} first")
        lock(inputs, [variant], backend=backend(inputs.config.resolver), reporter=reporter)
        loaded = read_lock(status.path)
    where = inputs.config.file or "podlock.toml"
    loaded.require_platform(
        target,
        what=", this machine's platform",
        hint=f'add "{target}" to the platforms of variant {variant.name} in {where} '
        f"(e.g. [variant.{variant.name}] platforms = "
        f"[{', '.join(repr(p) for p in (*loaded.meta.platforms, str(target)))}]), then "
        f"`podlock lock --variant {variant.name}`",
    )
    return ensure_env(inputs, variant, loaded, target, reporter=reporter)


def ensure_env(
    inputs: Inputs,
    variant: VariantConfig,
    loaded: LoadedLock,
    target: Platform,
    *,
    reporter: Reporter,
) -> LocalEnv:
    """The lock's venv: reused when it is there, else built in a temporary directory and
    renamed into place."""
    from podlock.toolchain import find_python, uv_binary

    final = venv_dir(inputs, variant, loaded.path.read_bytes(), target)
    if (final / STAMP).is_file():
        return LocalEnv(path=final, reused=True)
    uv = uv_binary()
    python = find_python(loaded.meta.python, uv)
    final.parent.mkdir(parents=True, exist_ok=True)
    env, secrets = _index_env(inputs, variant)
    creating = reporter.task(
        f"building the {variant.name} environment for {target} from {loaded.path.name}"
    )
    # Named by pid (not thread) so that ``_prune`` can tell a live build's from a dead one's.
    scratch = final.parent / f".{final.name}.{os.getpid()}.tmp"
    try:
        with directory_in_place(
            final, tmp=scratch, finished=lambda d: (d / STAMP).is_file()
        ) as tmp:  # a run that finished first keeps its venv
            _install(uv, python, tmp, loaded, target, env=env, secrets=secrets)
        creating.done()
    except ToolError as exc:
        raise PodlockError(
            f"uv could not install {loaded.path.name} for {target}:\n{_tail(exc.output)}",
            hint="check the network and index credentials; `podlock lock` if the lock is old",
        ) from None
    _prune(final)
    return LocalEnv(path=final, reused=False)


def _index_env(inputs: Inputs, variant: VariantConfig) -> tuple[dict[str, str], Sequence[str]]:
    """uv's environment, with the variant's credentialed indexes, and the secrets to redact."""
    from podlock.inputs.indexes import index_plan
    from podlock.toolchain import uv_env

    env = uv_env()
    plan = index_plan(inputs, variant)
    # The lock's URLs carry no credentials: uv matches them to these named indexes.
    named = [i for i in plan.indexes if i.username is not None or i.password is not None]
    if named:
        env["UV_INDEX"] = " ".join(f"{i.name}={i.url}" for i in named)
        for index in named:
            var = index.name.upper().replace("-", "_")
            env[f"UV_INDEX_{var}_USERNAME"] = index.username or ""
            env[f"UV_INDEX_{var}_PASSWORD"] = index.password or ""
    return env, plan.secrets


def _install(
    uv: str,
    python: str,
    tmp: Path,
    loaded: LoadedLock,
    target: Platform,
    *,
    env: dict[str, str],
    secrets: Sequence[str],
) -> None:
    """Create the venv at ``tmp``, sync the lock into it, and stamp it."""
    run([uv, "venv", "--quiet", "--no-config", "--relocatable", "--python", python, tmp],
        env=env)  # fmt: skip
    venv_python = tmp / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    run(
        [uv, "pip", "sync", "--no-config", "--python", venv_python, "--require-hashes",
         "--preview-features", "pylock", loaded.path],
        env=env,
        secrets=secrets,
    )  # fmt: skip
    stamp = {
        "lock": loaded.path.name,
        "fingerprint": loaded.meta.fingerprint,
        "platform": str(target),
        "python": loaded.meta.python,
    }
    (tmp / STAMP).write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")


def _prune(keep: Path) -> None:
    """Drop this project-variant's older venvs (and temp dirs of dead runs)."""
    prefix = re.escape(keep.name.rsplit("-", 1)[0])
    mine = re.compile(rf"^\.?{prefix}-[0-9a-f]{{16}}(?:\.(\d+)\.tmp)?$")
    for other in keep.parent.iterdir():
        m = mine.match(other.name)
        if other == keep or not m:
            continue
        if m.group(1) and _alive(int(m.group(1))):
            continue  # a build in progress
        shutil.rmtree(other, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def command_env(venv: LocalEnv, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with the venv activated (``VIRTUAL_ENV``, ``PATH``; no ``PYTHONHOME``)."""
    env = {k: v for k, v in base.items() if k not in ("PYTHONHOME", "__PYVENV_LAUNCHER__")}
    env["VIRTUAL_ENV"] = str(venv.path)
    env["PATH"] = os.pathsep.join([str(venv.bin), *filter(None, [base.get("PATH", "")])])
    return env


def exec_command(argv: Sequence[str], env: Mapping[str, str], *, cwd: Path) -> NoReturn:
    """Replace this process with ``argv`` in ``cwd``: its exit status and signals are the
    command's own."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.chdir(cwd)
        os.execvpe(argv[0], list(argv), dict(env))
    except FileNotFoundError:
        raise _not_found(argv[0]) from None
    except PermissionError:
        raise PodlockError(f"{argv[0]}: permission denied (not executable)") from None


def run_command(argv: Sequence[str], env: Mapping[str, str], *, cwd: Path | None = None) -> int:
    """Run ``argv`` as a child (where exec is not available); 128+N when signal N ended it.

    SIGINT is ignored here rather than forwarded: a terminal's Ctrl-C already reaches the
    child (same process group), and forwarding it would deliver it twice.
    """
    try:
        proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd)
    except FileNotFoundError:
        raise _not_found(argv[0]) from None
    previous: dict[int, Any] = {}

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signum)

    try:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for name in _FORWARDED:
            sig = getattr(signal, name, None)
            if sig is not None:
                previous[sig] = signal.signal(sig, forward)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        code = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def _not_found(command: str) -> CommandNotFound:
    return CommandNotFound(
        f"{command}: command not found in the environment or on PATH",
        hint="is the package that provides it in your requirements? "
        "(`podlock run -- python -m MODULE` runs a module)",
    )
