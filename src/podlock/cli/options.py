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
