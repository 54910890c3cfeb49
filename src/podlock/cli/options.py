"""Options that several commands share: ``--project`` and ``--variant``, spelled once."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_project(
    p: argparse.ArgumentParser | Any,
    *,
    default: Path | None = Path("."),
    help: str = "project directory",
) -> None:
    """``--project DIR``: the project directory (default: the current directory)."""
    p.add_argument("--project", type=Path, default=default, help=help)


def add_variant(
    p: argparse.ArgumentParser | Any,
    *,
    many: bool = False,
    required: bool = False,
    help: str | None = None,
) -> None:
    """``--variant NAME``: one variant (``required`` or with a ``help`` on its default), or
    with ``many``, a repeatable filter that collects a list (empty: every variant)."""
    if many:
        p.add_argument(
            "--variant", action="append", default=[], help=help or "only this variant (repeatable)"
        )
    elif required:
        p.add_argument("--variant", required=True, help=help)
    else:
        p.add_argument("--variant", help=help)


def add_resolver(p: argparse.ArgumentParser | Any) -> None:
    """``--resolver uv|python``: the backend, instead of the config's."""
    p.add_argument("--resolver", choices=["uv", "python"], help="override the config's resolver")


def add_output_flags(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``-v``/``-q``, before the command or after it (``podlock lock -q``); below the top, a
    flag left out keeps the top-level value (``SUPPRESS``: no default to overwrite it),
    and nested commands (``jobs list``) get them too."""
    default: Any = False if top else argparse.SUPPRESS
    p.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="show tracebacks on errors"
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="only warnings and errors"
    )
    if top:
        return
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                add_output_flags(child)
