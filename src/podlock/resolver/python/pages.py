"""Project pages as the resolver reads them: one project's files on one index, grouped by
version, fetched once per (index, name) and kept parsed on disk.

Parsing was most of a warm run: the reference project's 85 pages list 72,000 files
(24 MB of HTML), ~2 s of regexes and filename parsing. So a page's parsed form is stored
(``marshal``, grouped by version: ~60 ms to read, check and load all 85) and used again
while the page body keeps its sha256; ``Link`` and ``Dist`` objects are made only for the
versions the resolution looks into, and what a target can install of each version is
worked out once per (page, Python, platforms), for every variant and round that shares
it. A parsed entry that is corrupt or from another body is ignored and written again.
"""

from __future__ import annotations

import bisect
import hashlib
import marshal
import sys
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from podlock.atomic import write_entry
from podlock.errors import IndexError_
from podlock.inputs.indexes import Index
from podlock.platforms import Platform
from podlock.resolver.python.http_cache import HttpClient, Response
from podlock.resolver.python.simple_api import ACCEPT, Dist, Link, parse_dist, parse_page
from podlock.resolver.python.wheeltags import installs_on, parse_tags, python_fits, tag_text
from podlock.urls import redact, strip_credentials

# Part of every parsed entry's source digest: bump on change. marshal's format is Python's.
_FORMAT = f"podlock-page-2 marshal-{marshal.version} {sys.version_info[:2]}".encode()

Details = tuple[
    list[str],  # filename
    list[str],  # url
    list[str | None],  # sha256
    list[bool],  # metadata (PEP 658)
    list[str | None],  # metadata_sha256
    list[int | None],  # size
    list[str | None],  # upload_time, ISO 8601
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Files:
    """A page's files for its project, grouped by version (newest first), column by column.

    Per file, only what choosing a version reads; the rest of each version's files stays
    packed (``marshal``) until one of them is used: ~0.5 µs a file to load.
    """

    starts: list[int]  # version ``g`` is rows ``starts[g]:starts[g + 1]``, in page order
    version: list[str]  # per row, as its filename spells it
    requires_python: list[str | None]
    yanked: list[str | None]  # the reason ("" when none was given); None: not yanked
    tags: list[str | None]  # the wheel filename's tag triple; None for an sdist
    details: list[bytes]  # per version: its rows' ``Details``, marshalled

    @classmethod
    def from_dists(cls, dists: Iterable[Dist]) -> Files:
        groups: dict[Version, list[Dist]] = {}
        for d in dists:
            groups.setdefault(d.version, []).append(d)
        # One object per distinct text, so that marshal writes the repeats as references.
        same: dict[str, str] = {}
        out = cls(starts=[0], version=[], requires_python=[], yanked=[], tags=[], details=[])
        for _, group in sorted(groups.items(), key=lambda kv: kv[0], reverse=True):
            for d in group:
                link = d.link
                tags = tag_text(link.filename) if d.tags is not None else None
                out.version.append(same.setdefault(str(d.version), str(d.version)))
                out.requires_python.append(_same(same, link.requires_python))
                out.yanked.append(_same(same, link.yanked))
                out.tags.append(_same(same, tags))
            details: Details = (
                [d.link.filename for d in group],
                [d.link.url for d in group],
                [d.link.sha256 for d in group],
                [d.link.metadata for d in group],
                [d.link.metadata_sha256 for d in group],
                [d.link.size for d in group],
                [t.isoformat() if (t := d.link.upload_time) else None for d in group],
            )
            out.details.append(marshal.dumps(details))
            out.starts.append(len(out.version))
        return out

    def to_bytes(self) -> bytes:
        return marshal.dumps(
            (self.starts, self.version, self.requires_python, self.yanked, self.tags, self.details)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Files:
        """Raises ValueError when ``data`` is not what ``to_bytes`` wrote."""
        try:
            starts, version, requires_python, yanked, tags, details = marshal.loads(data)
        except (EOFError, TypeError, ValueError) as exc:
            raise ValueError(f"not a page's files ({exc})") from None
        columns = (starts, version, requires_python, yanked, tags, details)
        if not all(isinstance(c, list) for c in columns):
            raise ValueError("not a page's files")
        rows = len(version)
        if (
            not starts
            or starts[-1] != rows
            or len(starts) != len(details) + 1
            or any(len(c) != rows for c in (requires_python, yanked, tags))
        ):
            raise ValueError("a page's columns of different lengths")
        return cls(
            starts=starts,
            version=version,
            requires_python=requires_python,
            yanked=yanked,
            tags=tags,
            details=details,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Release:
    """One version's files that can install for one target (a Python and its platforms)."""

    version: Version
    page: Page = field(repr=False, compare=False)
    files: Sequence[int]  # rows of ``page.files``: Python fits; yanked ones only if all are
    coverage: frozenset[Platform]  # the platforms one of ``files`` installs on
    yanked: bool  # all of ``files`` are
    python_skip: str | None  # a Requires-Python that left a file out (the page's last)

    @property
    def dists(self) -> tuple[Dist, ...]:
        return tuple(self.page.dist(i) for i in self.files)


class Page:
    """A project's files on one index, grouped by version; shared by every variant."""

    def __init__(self, name: NormalizedName, files: Files) -> None:
        self.name = name
        self.files = files
        self._versions: dict[str, Version] = {}
        for text in files.version:
            if text not in self._versions:
                self._versions[text] = Version(text)
        starts = files.starts
        self._groups = [
            (self._versions[files.version[starts[g]]], starts[g], starts[g + 1])
            for g in range(len(starts) - 1)
        ]
        self._releases: dict[tuple[str, tuple[Platform, ...]], list[Release]] = {}
        self._details: dict[int, Details] = {}
        self._dists: dict[int, Dist] = {}
        self._lock = threading.Lock()

    def dist(self, row: int) -> Dist:
        dist = self._dists.get(row)
        if dist is None:
            f = self.files
            group = bisect.bisect_right(f.starts, row) - 1
            details = self._details.get(group)
            if details is None:
                details = self._details[group] = marshal.loads(f.details[group])
            k = row - f.starts[group]
            uploaded = details[6][k]
            link = Link(
                filename=details[0][k],
                url=details[1][k],
                sha256=details[2][k],
                requires_python=f.requires_python[row],
                yanked=f.yanked[row],
                metadata=details[3][k],
                metadata_sha256=details[4][k],
                size=details[5][k],
                upload_time=None if uploaded is None else datetime.fromisoformat(uploaded),
            )
            text = f.tags[row]
            dist = Dist(
                link=link,
                name=self.name,
                version=self._versions[f.version[row]],
                tags=None if text is None else parse_tags(text),
            )
            self._dists[row] = dist
        return dist

    def releases(self, python: str, platforms: tuple[Platform, ...]) -> list[Release]:
        """Every version, newest first, with what CPython ``python`` can install of it on
        ``platforms``. Cost: one pass over the files per target, then memoized."""
        key = (python, platforms)
        with self._lock:
            found = self._releases.get(key)
        if found is not None:
            return found
        target = Version(f"{python}.0")
        everywhere = frozenset(platforms)
        fits: dict[str | None, bool] = {None: True}
        installs: dict[str, frozenset[Platform]] = {}
        # One object per distinct value: releases are many, and each one is kept.
        coverages: dict[frozenset[Platform], frozenset[Platform]] = {}
        f = self.files
        out: list[Release] = []
        for version, start, end in self._groups:
            kept: list[int] = []  # Python fits
            clean: list[int] = []  # ... and not yanked
            skip: str | None = None
            for i in range(start, end):
                rp = f.requires_python[i]
                ok = fits.get(rp)
                if ok is None:
                    ok = fits[rp] = python_fits(rp, target)
                if not ok:
                    skip = rp
                    continue
                kept.append(i)
                if f.yanked[i] is None:
                    clean.append(i)
            # Spelled as its first file for this Python spells it ("1.0" or "1.0.0").
            spelled = self._versions[f.version[kept[0]]] if kept else version
            yanked = not clean and bool(kept)
            if clean:
                kept = clean
            coverage: frozenset[Platform] = frozenset()
            for i in kept:
                text = f.tags[i]
                if text is None:
                    coverage = everywhere
                    break
                where = installs.get(text)
                if where is None:
                    where = installs[text] = installs_on(text, platforms, python)
                coverage |= where
                if len(coverage) == len(everywhere):
                    break
            out.append(
                Release(
                    version=spelled,
                    page=self,
                    files=range(start, end) if len(kept) == end - start else tuple(kept),
                    coverage=coverages.setdefault(coverage, coverage),
                    yanked=yanked,
                    python_skip=skip,
                )
            )
        with self._lock:
            return self._releases.setdefault(key, out)


class ProjectPages:
    """Project pages per (index, name), fetched once and in the background when asked
    early (``prefetch``); every variant's resolution shares them. ``consulted`` lists the
    pages the resolution asked for, in order; ``warm`` fetches without counting as that."""

    def __init__(self, http: HttpClient, pool: Executor, cache: Path | None) -> None:
        self.http = http
        self.pool = pool
        self.cache = cache
        self.consulted: dict[tuple[str, str], None] = {}  # an ordered set
        self._futures: dict[tuple[str, str], Future[Page | None]] = {}
        self._lock = threading.Lock()

    def warm(self, index: Index, name: str) -> None:
        """Start fetching a page that the resolution will likely ask for."""
        self._future(index, canonicalize_name(name))

    def prefetch(self, index: Index, name: str) -> Future[Page | None]:
        name = canonicalize_name(name)
        with self._lock:
            self.consulted[(index.url, name)] = None
        return self._future(index, name)

    def get(self, index: Index, name: str) -> Page | None:
        """The project's page on ``index``; None when the index doesn't have it."""
        return self.prefetch(index, name).result()

    def first(self, indexes: Sequence[Index], name: str) -> tuple[Index, Page] | None:
        """The first index that has ``name`` (no fallthrough: no dependency confusion)."""
        for index in indexes:
            self.prefetch(index, name)
        for index in indexes:
            page = self.get(index, name)
            if page is not None:
                return index, page
        return None

    def _future(self, index: Index, name: NormalizedName) -> Future[Page | None]:
        key = (index.url, name)
        with self._lock:
            future = self._futures.get(key)
            if future is None:
                future = self.pool.submit(self._fetch, index, name)
                self._futures[key] = future
        return future

    def _fetch(self, index: Index, name: NormalizedName) -> Page | None:
        url = f"{index.url}/{name}/"
        response = self.http.get(url, accept=ACCEPT, cached=True)
        if response.status == 404 or response.status == 410:
            return None
        if response.status != 200:
            raise IndexError_(
                f"{redact(url)} answered HTTP {response.status}",
                index=redact(index.url),
                hint="check the index URL and its credentials"
                if response.status in (401, 403)
                else None,
            )
        return Page(name, self._files(index, name, response))

    def _files(self, index: Index, name: NormalizedName, response: Response) -> Files:
        """The page's files: from the parsed cache while the body is the same, else parsed."""
        content_type = response.headers.get("content-type", "")
        source = hashlib.sha256(
            b"\n".join(
                [
                    _FORMAT,
                    response.sha256.encode(),
                    response.url.encode(),
                    b"json" if "json" in content_type else b"html",
                    name.encode(),
                ]
            )
        ).digest()
        url = f"{index.url}/{name}/"
        path = None
        if self.cache is not None:
            path = self.cache / f"{hashlib.sha256(url.encode()).hexdigest()}.marshal"
            files = _load(path, source)
            if files is not None:
                return files
        try:
            links = parse_page(response.body, content_type, response.url)
        except (ValueError, KeyError) as exc:
            raise IndexError_(
                f"{redact(url)} is not a valid Simple API page ({exc})",
                index=redact(index.url),
            ) from None
        dists = [parse_dist(link) for link in links]
        files = Files.from_dists(d for d in dists if d is not None and d.name == name)
        # Links are resolved against the page's URL: credentials in it would reach the disk.
        if path is not None and strip_credentials(response.url) == response.url:
            _store(path, source, files)
        return files


def _load(path: Path, source: bytes) -> Files | None:
    """The parsed entry at ``path`` if it was made from ``source``; None if not, or corrupt."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data[:32] != source or hashlib.sha256(data[64:]).digest() != data[32:64]:
        return None
    try:
        return Files.from_bytes(data[64:])
    except ValueError:
        return None


def _store(path: Path, source: bytes, files: Files) -> None:
    payload = files.to_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_entry(path, source + hashlib.sha256(payload).digest() + payload)


def _same(same: dict[str, str], text: str | None) -> str | None:
    return None if text is None else same.setdefault(text, text)
