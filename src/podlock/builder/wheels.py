"""Wheels fetched once into a content-addressed cache, sha256-verified before use.

Credentials for private indexes are used here, on the host, and nowhere else: the build
context (and so every layer) only ever sees the verified files.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

from podlock.builder.plan import Wheel
from podlock.errors import HashMismatch, IndexError_
from podlock.paths import cache_dir
from podlock.reporter import NullReporter, Reporter
from podlock.urls import redact

_WORKERS = 8


class WheelCache:
    """``<cache>/wheels/<sha256[:2]>/<sha256>/<filename>``; a file there has that hash."""

    def __init__(self, root: Path | None = None, *, auth: Mapping[str, str] | None = None) -> None:
        self.root = root or cache_dir() / "wheels"
        self.auth = dict(auth or {})  # netloc -> "user:password"

    def path(self, wheel: Wheel) -> Path:
        return self.root / wheel.sha256[:2] / wheel.sha256 / wheel.filename

    def fetch_all(self, wheels: Iterable[Wheel], reporter: Reporter | None = None) -> None:
        """Make every wheel present and verified; the first bad hash is raised."""
        reporter = reporter or NullReporter()
        todo = {w.sha256: w for w in wheels if not self.path(w).is_file()}
        if not todo:
            return
        total = sum(w.size for w in todo.values())
        reporter.info(f"downloading {len(todo)} wheels ({total / 1e6:.1f} MB)")
        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            for _ in pool.map(self.fetch, todo.values()):
                pass

    def fetch(self, wheel: Wheel) -> Path:
        dest = self.path(wheel)
        if dest.is_file():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in self._open(wheel):
                    digest.update(chunk)
                    out.write(chunk)
            got = digest.hexdigest()
            if got != wheel.sha256:
                raise HashMismatch(
                    package=wheel.package,
                    url=redact(wheel.url),
                    expected=[f"sha256:{wheel.sha256}"],
                    got=[f"sha256:{got}"],
                )
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return dest

    def _open(self, wheel: Wheel) -> Iterable[bytes]:
        parts = urlsplit(wheel.url)
        if parts.scheme == "file":
            with open(unquote(parts.path), "rb") as fh:
                while chunk := fh.read(1 << 20):
                    yield chunk
            return
        request = urllib.request.Request(wheel.url)
        cred = self.auth.get(parts.netloc)
        if cred:
            request.add_header("Authorization", "Basic " + base64.b64encode(cred.encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                while chunk := response.read(1 << 20):
                    yield chunk
        except (urllib.error.URLError, OSError) as exc:
            raise IndexError_(
                f"could not download {wheel.filename} for {wheel.package}: {exc}",
                index=redact(wheel.url),
                hint="check the network and the index credentials; the lock names this URL",
            ) from None
