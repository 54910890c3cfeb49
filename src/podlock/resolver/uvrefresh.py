"""uv revalidates the index pages that changed since a project's last resolution, while
podlock is still fetching the others (see freshness.py for why that lets ``uv lock``
answer from its cache).

Each changed page is handed over as soon as podlock's fetch has read it, so uv's copy is
never older than the digest that vouches for it; uv runs on a thread of its own, one
``uv pip compile --refresh-package`` per index and target Python and batch.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from podlock.errors import PodlockError
from podlock.inputs.indexes import Index
from podlock.process import run
from podlock.resolver.freshness import refresh_argv, requested
from podlock.toolchain import find_python


@dataclass
class _Batch:
    env: dict[str, str]
    secrets: Sequence[str]
    pages: dict[str, str] = field(default_factory=dict)  # URL -> digest podlock read


class Refresher:
    """Changed pages in, vouched pages out (``finish``: URL -> digest)."""

    def __init__(self, uv: str) -> None:
        self.uv = uv
        self._pending: dict[tuple[str, Index], _Batch] = {}
        self._vouched: dict[str, str] = {}
        self._added: set[tuple[str, Index, str, str]] = set()
        self._finished = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(
        self,
        python: str,
        index: Index,
        credentials: tuple[dict[str, str], Sequence[str]],
        url: str,
        digest: str,
    ) -> None:
        """Have uv revalidate page ``url`` of ``index``, which podlock has just read as
        ``digest``; ``credentials``: uv's environment for the index, and what to redact."""
        with self._cond:
            if (python, index, url, digest) in self._added:
                return  # another variant's record named the same page
            self._added.add((python, index, url, digest))
            batch = self._pending.setdefault((python, index), _Batch(*credentials))
            batch.pages[url] = digest
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="podlock-refresh", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    @property
    def used(self) -> bool:
        """Whether any page was handed to uv (its cache may have changed meanwhile)."""
        return bool(self._added)

    def finish(self) -> dict[str, str]:
        """Wait for uv; the pages it revalidated, with the digest that vouches for each."""
        with self._cond:
            self._finished = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        return self._vouched

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._finished:
                    self._cond.wait()
                if not self._pending:
                    return
                todo, self._pending = self._pending, {}
            for (python, index), batch in sorted(todo.items(), key=_order):
                # Nothing vouched when uv fails: the variants that read these pages go online.
                with contextlib.suppress(PodlockError):
                    self._vouched.update(self._refresh(python, index, batch))

    def _refresh(self, python: str, index: Index, batch: _Batch) -> Mapping[str, str]:
        base = index.url.rstrip("/") + "/"
        names = {u[len(base) :].strip("/") for u in batch.pages}
        with tempfile.TemporaryDirectory(prefix="podlock-refresh-") as tmp:
            requirements = Path(tmp) / "names.in"
            requirements.write_text("".join(f"{n}\n" for n in sorted(names)))
            interpreter = find_python(python, self.uv)
            argv = refresh_argv(self.uv, (python, interpreter), index, names, requirements)
            done = run(argv, env=batch.env, cwd=Path(tmp), check=False, secrets=batch.secrets)
        if done.returncode != 0:
            return {}
        fetched = requested(done.stderr)
        return {u: d for u, d in batch.pages.items() if u in fetched}


def _order(item: tuple[tuple[str, Index], _Batch]) -> tuple[str, str, str]:
    (python, index), _ = item
    return python, index.name, index.url
