"""Canonical JSON: sorted keys, no whitespace, UTF-8, so the same value always gives the same
bytes (image configs and manifests, lock fingerprints)."""

from __future__ import annotations

import json
from typing import Any


def canonical(value: Any, *, ensure_ascii: bool = False) -> bytes:
    """``ensure_ascii`` escapes non-ASCII characters as ``\\uXXXX`` (the fingerprints' form)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=ensure_ascii
    ).encode()
