"""What the last resolution of a project consulted, so that the next one can ask for all
of it at once: the project pages, in the order they were first asked for, and the core
metadata of the files it read (immutable per file hash, like the metadata cache).

Without it a warm run fetches pages one dependency level at a time, because each level
is known only once the one above is resolved. Kept per project directory and set of
index URLs in podlock's cache; credential-free (``Index.url`` has none, metadata none).
A file that cannot be read is simply no memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podlock.atomic import write_entry
from podlock.resolver.python.metadata import CoreMetadata


@dataclass(frozen=True, kw_only=True)
class Consulted:
    """Pages as (index URL, project name) and metadata by file key, from one resolution."""

    pages: tuple[tuple[str, str], ...] = ()
    metadata: Mapping[str, CoreMetadata] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> Consulted:
        """Raises ValueError (or KeyError, TypeError) when ``data`` is not ``to_dict``'s."""
        pages = tuple((str(url), str(name)) for url, name in data["pages"])
        metadata = {str(k): CoreMetadata.from_dict(v) for k, v in data["metadata"].items()}
        return cls(pages=pages, metadata=metadata)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pages": [list(p) for p in self.pages],
            "metadata": {k: m.to_dict() for k, m in sorted(self.metadata.items())},
        }


def memory_path(cache: Path, root: Path, index_urls: Iterable[str]) -> Path:
    """Where ``Consulted`` is kept for the project at ``root`` with these indexes."""
    key = json.dumps([str(root.resolve()), sorted(set(index_urls))])
    return cache / f"{hashlib.sha256(key.encode()).hexdigest()}.json"


def recall(path: Path) -> Consulted:
    """The remembered ``Consulted``; empty when there is none or it is unreadable."""
    try:
        return Consulted.from_dict(json.loads(path.read_bytes()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return Consulted()


def remember(path: Path, consulted: Consulted) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_entry(path, json.dumps(consulted.to_dict(), separators=(",", ":")).encode())
    except OSError:
        pass  # only a hint for the next run
