"""The one way podlock runs another program: argv lists, redacted, typed failures."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from podlock.errors import ToolError
from podlock.urls import redact


@dataclass(frozen=True)
class Completed:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    secrets: Sequence[str] = (),
    timeout: float | None = None,
) -> Completed:
    """Run ``argv``; output is redacted (URL credentials and ``secrets``) before it is kept."""
    args = [os.fspath(a) for a in argv]
    try:
        proc = subprocess.run(
            args,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ToolError(
            f"{args[0]} is not installed", argv=_clean(args, secrets), output=""
        ) from None
    except subprocess.TimeoutExpired as exc:
        raise ToolError(
            f"{os.path.basename(args[0])} did not finish in {timeout:.0f} s",
            argv=_clean(args, secrets),
            output=_scrub(str(exc.stderr or ""), secrets),
        ) from None
    done = Completed(
        argv=_clean(args, secrets),
        returncode=proc.returncode,
        stdout=_scrub(proc.stdout, secrets),
        stderr=_scrub(proc.stderr, secrets),
    )
    if check and proc.returncode != 0:
        raise ToolError(
            f"{os.path.basename(args[0])} failed with exit code {proc.returncode}",
            argv=done.argv,
            output=done.stderr or done.stdout,
        )
    return done


def _scrub(text: str, secrets: Sequence[str]) -> str:
    text = redact(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _clean(args: list[str], secrets: Sequence[str]) -> list[str]:
    return [_scrub(a, secrets) for a in args]
