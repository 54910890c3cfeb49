"""``--format text|json``: one flag for every command that reports a result; JSON goes
alone to stdout (progress and warnings go to stderr), so ``podlock ... | jq`` works."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any, Literal

Format = Literal["text", "json"]


def add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=("text", "json"), default="text",
        help="json: the result as one JSON document on stdout (schemas in the README)",
    )  # fmt: skip


def wants_json(args: argparse.Namespace) -> bool:
    return getattr(args, "format", "text") == "json"


def emit(document: Mapping[str, Any]) -> None:
    """Write ``document`` to stdout as indented JSON, newline-terminated."""
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    sys.stdout.flush()
