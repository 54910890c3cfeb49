"""``podlock run`` (local backend), run for real in a child process: the venv is built from
the lock with uv, cached by lock, rebuilt atomically; .env, exit codes and signals pass."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from launcher_helpers import podlock

from podlock.inputs.discover import discover
from podlock.launcher import local
from podlock.launcher.local import STAMP, run_command
from podlock.reporter import ListReporter
from testkit import child_env, default_signals

pytestmark = pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64",
                                reason="the hello fixture locks linux/amd64 and linux/arm64 wheels")  # fmt: skip

MAIN = ("--", "python", "main.py")


def venvs(cache: Path) -> list[str]:
    root = cache / "venvs"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_run_builds_the_environment_once_then_reuses_it(
    hello: Callable[..., Path], _podlock_cache: Path
) -> None:
    root = hello()
    first = podlock("run", "--project", str(root), *MAIN)
    assert first.returncode == 0, first.stderr
    assert "hello from the hello fixture" in first.stdout
    assert "jax=0.7.0 flax=0.10.0" in first.stdout
    assert "building the cpu environment for linux/amd64 from pylock.cpu.toml" in first.stderr
    [venv] = venvs(_podlock_cache)
    assert f"prefix={_podlock_cache / 'venvs' / venv}" in first.stdout
    second = podlock("run", "--project", str(root), *MAIN)
    assert second.returncode == 0
    assert second.stderr == ""
    assert second.stdout == first.stdout
    assert venvs(_podlock_cache) == [venv]


def test_exit_code_is_passed_through(hello: Callable[..., Path]) -> None:
    root = hello()
    done = podlock("run", "--project", str(root), "--", "python", "-c", "import sys; sys.exit(7)")
    assert done.returncode == 7


@pytest.mark.parametrize(("sig", "expect"), [(signal.SIGTERM, 42), (signal.SIGINT, -signal.SIGINT)])
def test_signals_reach_the_command(hello: Callable[..., Path], sig: int, expect: int) -> None:
    root = hello()
    assert podlock("run", "--project", str(root), "--", "python", "-c", "pass").returncode == 0
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: (print('got TERM', flush=True), sys.exit(42)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "podlock", "run", "--project", str(root), "--", "python", "-c", script],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
        preexec_fn=default_signals,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(sig)
    out, _err = proc.communicate(timeout=30)
    assert proc.returncode == expect
    if sig == signal.SIGTERM:
        assert out == "got TERM\n"


def test_dotenv_is_loaded_but_the_shell_wins(hello: Callable[..., Path]) -> None:
    root = hello()
    (root / ".env").write_text(
        "# settings\nexport DATA_DIR=/data/x\nKEEP=from-dotenv\nQUOTED='a # b'\nURL=\"${DATA_DIR}/y\"\n"
    )
    show = "import os; print(os.environ['DATA_DIR'], os.environ['KEEP'], os.environ['QUOTED'], os.environ['URL'])"
    done = podlock(
        "run", "--project", str(root), "--", "python", "-c", show, env={"KEEP": "from-shell"}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "/data/x from-shell a # b /data/x/y\n"


def test_a_stale_lock_is_refreshed_first(hello: Callable[..., Path], _podlock_cache: Path) -> None:
    root = hello()
    assert podlock("run", "--project", str(root), "--", "python", "-c", "pass").returncode == 0
    old = venvs(_podlock_cache)
    with (root / "requirements.txt").open("a") as fh:
        fh.write("idna\n")
    done = podlock(
        "run", "--project", str(root), "--", "python", "-c", "import idna; print(idna.__name__)"
    )
    assert done.returncode == 0, done.stderr
    assert "pylock.cpu.toml is stale; locking cpu first" in done.stderr
    assert done.stdout == "idna\n"
    assert venvs(_podlock_cache) != old and len(venvs(_podlock_cache)) == 1  # the old one pruned


def test_frozen_refuses_a_stale_lock(hello: Callable[..., Path]) -> None:
    root = hello()
    with (root / "requirements.txt").open("a") as fh:
        fh.write("idna\n")
    done = podlock("run", "--project", str(root), "--frozen", "--", "python", "-c", "pass")
    assert done.returncode == 1
    assert "pylock.cpu.toml: stale" in done.stderr
    assert "podlock lock --variant cpu" in done.stderr


def test_host_platform_missing_from_the_lock_says_how_to_add_it(
    hello: Callable[..., Path], cli: Any
) -> None:
    root = hello(lock=False)
    config = (root / "podlock.toml").read_text()
    (root / "podlock.toml").write_text(
        config.replace("[variant.cpu]\n", '[variant.cpu]\nplatforms = ["linux/arm64"]\n')
    )
    assert cli("lock", "--project", str(root)).code == 0
    done = podlock("run", "--project", str(root), "--", "python", "-c", "pass")
    assert done.returncode == 2
    assert (
        "pylock.cpu.toml has no linux/amd64, this machine's platform (it has linux/arm64)"
        in done.stderr
    )
    assert 'add "linux/amd64" to the platforms of variant cpu in podlock.toml' in done.stderr
    assert "podlock lock --variant cpu" in done.stderr


def test_command_not_found_and_no_command(hello: Callable[..., Path]) -> None:
    root = hello()
    done = podlock("run", "--project", str(root), "--", "no-such-tool-xyz")
    assert done.returncode == 127
    assert "no-such-tool-xyz: command not found" in done.stderr
    done = podlock("run", "--project", str(root))
    assert done.returncode == 2 and "no command to run" in done.stderr


def test_an_interrupted_build_keeps_the_old_environment(
    hello: Callable[..., Path], _podlock_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = hello()
    inputs = discover(root)
    variant = inputs.config.variant("cpu")
    old = local.prepare(inputs, variant)
    assert not old.reused
    with (root / "requirements.txt").open("a") as fh:
        fh.write("idna\n")
    real_run = local.run

    def interrupted(argv: Any, **kwargs: Any) -> Any:
        if "sync" in [str(a) for a in argv]:
            raise KeyboardInterrupt  # Ctrl-C while uv installs
        return real_run(argv, **kwargs)

    monkeypatch.setattr(local, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        local.prepare(discover(root), variant, reporter=ListReporter())
    assert venvs(_podlock_cache) == [old.path.name]  # no half-built venv, old one intact
    assert (old.path / STAMP).is_file()
    monkeypatch.setattr(local, "run", real_run)
    new = local.prepare(discover(root), variant)
    assert not new.reused and venvs(_podlock_cache) == [new.path.name]
    assert local.prepare(discover(root), variant).reused


def test_run_command_reports_signal_deaths_as_128_plus_n() -> None:
    assert run_command(["sh", "-c", "kill -TERM $$"], dict(os.environ)) == 128 + signal.SIGTERM
    assert run_command(["sh", "-c", "exit 5"], dict(os.environ)) == 5
