"""Revalidate index pages all at once, so that ``uv lock`` can resolve from its cache.

uv revalidates a project page (and the wheel metadata behind it) when its resolution
reaches the project, one dependency level after the next. Through an index that sends no
caching headers that is every page on every run: 170 sequential-ish requests, ~1.8 s, for
the reference project. podlock instead fetches, concurrently (~0.3 s), every page that the
project's last resolution consulted. When each one is byte-identical to the copy podlock
saw just *before* uv's last online run, uv's cache holds what the index holds now, and
``uv lock --offline`` (0.05 s) gives the answer an online run would.

The offline answer is accepted only when uv's own log shows that it read no page from
the network and searched no project outside the verified set; anything else (a changed
page, a new dependency, a page uv no longer has, a different uv or uv cache) runs uv
online, exactly as before, and the record is rewritten from pages fetched before that run.

A page that changed since (a new release) is not a reason for a whole online run: uv
revalidates it, with what it depends on (``refresh_argv``: ``uv pip compile
--refresh-package``, which shares uv lock's cache), after podlock's fetch, and it then
vouches for uv's copy like the others. Only a page outside the record (a new dependency
that the refresh did not reach) sends ``uv lock`` online.

Wheel metadata needs no check: a file's URL carries its sha256, and uv verifies it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from podlock.atomic import write_atomic
from podlock.inputs.indexes import Index, IndexPlan, auth_headers
from podlock.resolver.python.simple_api import ACCEPT

if TYPE_CHECKING:  # requests costs start-up time: imported when used
    from podlock import http

_WORKERS = 4  # measured (87 pages, ~30 MB): 4 threads 0.55 s, 8: 0.8 s, beside 3 uv runs
_TIMEOUT = (5, 30)  # connect, read
_CHUNK = 1 << 20
_BODY_TRIES = 4
_SEARCHED = re.compile(r"Searching for a compatible version of ([A-Za-z0-9][A-Za-z0-9._-]*)")
_KEPT = "Existing `uv.lock` satisfies workspace requirements"
# uv's log lines for a page or file it asked the network for ("Sending fresh GET request
# for: URL", "Sending revalidation request for: URL").
_NETWORK = re.compile(r"Sending (?:fresh \w+|revalidation) request for: (\S+)")


@dataclass(frozen=True)
class Scope:
    """Which pages uv may read for a project: its indexes, and the packages routed to one."""

    indexes: tuple[Index, ...]
    routed: Mapping[str, frozenset[str]]  # package -> explicit index names, any variant

    @classmethod
    def of(cls, plans: Sequence[IndexPlan]) -> Scope | None:
        """The scope of a group of variants; None when podlock cannot verify it (find-links,
        --no-index or a local index: uv reads those itself, and they are fast anyway)."""
        indexes: dict[str, Index] = {}
        routed: dict[str, set[str]] = {}
        for plan in plans:
            if plan.find_links or plan.no_index:
                return None
            for index in plan.indexes:
                if urlsplit(index.url).scheme not in ("http", "https"):
                    return None
                indexes.setdefault(index.name, index)
            for pkg, index_name in plan.sources.items():
                routed.setdefault(canonicalize_name(pkg), set()).add(index_name)
        return cls(tuple(indexes.values()), {k: frozenset(v) for k, v in routed.items()})

    def pages(self, name: str) -> list[str]:
        """Every page uv could read for ``name``: the indexes any variant routes it to,
        and every non-explicit one (a superset: checking more pages is only slower)."""
        name = canonicalize_name(name)
        routed = self.routed.get(name, frozenset())
        return [
            f"{i.url.rstrip('/')}/{name}/"
            for i in self.indexes
            if not i.explicit or i.name in routed
        ]


@dataclass
class Record:
    """What podlock knows about the pages of one project's resolution (in its cache dir).

    ``names``: the projects uv searched last time (fetched up front on the next run).
    ``pages``: page URL -> digest, each fetched *before* an online uv run that used the
    same uv and uv cache; only these can vouch for uv's cached copy.
    """

    uv: str
    names: list[str] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, uv: str) -> Record:
        try:
            data = json.loads(path.read_text())
            if data["uv"] == uv:
                return cls(uv=uv, names=list(data["names"]), pages=dict(data["pages"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # missing or unreadable: start over (the next run is an online one)
        return cls(uv=uv)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pages = dict(sorted(self.pages.items()))
        data = {"uv": self.uv, "names": sorted(self.names), "pages": pages}
        write_atomic(path, json.dumps(data, indent=0))


def fetch_digests(
    urls: Iterable[str],
    indexes: Sequence[Index],
    *,
    on_page: Callable[[str, str], None] | None = None,
) -> dict[str, str]:
    """URL -> sha256 of the page (or ``status:NNN`` for a final non-200 answer); a page
    that could not be fetched through ``http``'s retries is left out (it verifies nothing).
    ``on_page`` hears of each digest as soon as it is known, on the fetching thread."""
    from podlock import http

    todo = sorted(set(urls))
    if not todo:
        return {}
    policy = http.Policy(retries=min(http.Policy().retries, 3), timeout=_TIMEOUT)
    with (
        http.Client(auth=auth_headers(indexes), policy=policy) as client,
        ThreadPoolExecutor(max_workers=min(_WORKERS, len(todo))) as pool,
    ):

        def one(url: str) -> tuple[str, str | None]:
            digest = _digest(client, url)
            if digest is not None and on_page is not None:
                on_page(url, digest)
            return url, digest

        return {url: d for url, d in pool.map(one, todo) if d is not None}


def _digest(client: http.Client, url: str) -> str | None:
    """The page's sha256, hashed as it arrives in 1 MiB pieces (requests' own 10 kB reads
    of ~30 MB of pages, on threads sharing the interpreter, cost a fifth of the fetch); a
    body cut short is fetched again."""
    from podlock import http

    for _ in range(_BODY_TRIES):
        try:
            response = client.request("GET", url, ok=None, headers={"Accept": ACCEPT}, stream=True)
        except http.HttpError:
            return None
        with response:
            if response.status_code != 200:
                return f"status:{response.status_code}"
            digest = hashlib.sha256()
            try:
                for chunk in response.iter_content(_CHUNK):
                    digest.update(chunk)
            except http.BODY_ERRORS:
                continue
            return digest.hexdigest()
    return None


def searched(log: str, *, root: str) -> set[str]:
    """The projects uv looked for, from its ``-v`` log (``root`` left out)."""
    return {str(canonicalize_name(m.group(1))) for m in _SEARCHED.finditer(log)} - {root}


def from_cache_only(log: str) -> bool:
    """Whether an ``--offline -v`` log shows no attempt to reach the network (a page uv's
    cache lacked) and does show what uv did: searched projects, or kept its uv.lock (which
    needs no page). Neither means uv's log changed, and nothing is taken on trust."""
    if _NETWORK.search(log):
        return False
    return _SEARCHED.search(log) is not None or _KEPT in log


def requested(log: str) -> set[str]:
    """The URLs uv's ``-v`` log shows it asked the network for."""
    return {m.group(1) for m in _NETWORK.finditer(log)}


def refresh_argv(
    uv: str, python: tuple[str, str], index: Index, names: Iterable[str], requirements: Path
) -> list[str]:
    """``uv pip compile`` that revalidates ``names``' pages on ``index`` and reads the
    metadata of their newest versions (which ``uv lock --offline`` needs next, and which
    reaches their dependencies' pages too); ``python`` is (version, interpreter).

    ``requirements`` must hold the names, one per line. The answer is thrown away: the
    point is what uv's cache holds after it.
    """
    version, interpreter = python
    argv = [
        uv, "pip", "compile", "--universal", "--python-version", version,
        "--python", interpreter, "--prerelease", "allow", "--no-header", "-v",
        "--default-index", f"{index.name}={index.url}", "-o", os.devnull, str(requirements),
    ]  # fmt: skip
    for name in sorted(names):
        argv += ["--refresh-package", name]
    return argv


def strip_log(output: str) -> str:
    """uv's output without its ``-v`` log lines (what the user should read)."""
    return "\n".join(
        line for line in output.splitlines() if not line.startswith(("DEBUG ", "TRACE "))
    )


def verified(names: Iterable[str], scope: Scope, record: Record, fresh: Mapping[str, str]) -> bool:
    """True when every page uv could have read for ``names`` is fresh now and equals the
    copy podlock fetched before uv's last online run."""
    for name in names:
        for url in scope.pages(name):
            if url not in record.pages or fresh.get(url) != record.pages[url]:
                return False
    return True
