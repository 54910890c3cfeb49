"""The uv backend: one ``uv lock`` per variant, variants side by side.

podlock generates a throwaway project per variant (one extra, routes to indexes in
``[tool.uv.sources]``) and gives uv, as its ``uv.lock``, the pins of that variant's own
``pylock.<variant>.toml`` and nothing else (see ``uvlock.preference_lock``): pins move
only when asked (``--upgrade``, ``--upgrade-package``), and a variant's result never
depends on which other variants were locked with it, or on what earlier runs left in
podlock's cache. Only uv's HTTP cache is shared.

(One ``uv lock`` over conflicting extras for all variants was faster, but uv's universal
resolution prefers one version across its forks, so a variant's pins depended on its
neighbours; and a uv.lock kept in the cache let ``outdated`` move the next lock.)
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import tomllib
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from packaging.utils import canonicalize_name

from podlock.atomic import write_atomic
from podlock.inputs.indexes import Index, IndexPlan, index_plan
from podlock.inputs.runtime import VariantRequirements
from podlock.paths import cache_dir, lock_path
from podlock.process import Completed, run
from podlock.reporter import Reporter
from podlock.resolver.freshness import (
    Record,
    Scope,
    fetch_digests,
    from_cache_only,
    searched,
    strip_log,
    verified,
)
from podlock.resolver.model import Request, Resolved, ResolveOptions
from podlock.resolver.uv_errors import in_user_terms, uv_error
from podlock.resolver.uvlock import ROOT, UvLock, preference_lock
from podlock.resolver.uvproject import generated_project
from podlock.resolver.uvrefresh import Refresher
from podlock.toolchain import find_python, uv_binary, uv_env

_WORKERS = 4  # uv runs on many threads itself; more processes only contend


@dataclass(frozen=True, kw_only=True)
class _Attempt:
    """One variant's ``uv lock``: the command, and what can vouch for uv's cached answer."""

    argv: list[str]
    env: dict[str, str]
    secrets: list[str]
    scope: Scope
    record: Record  # the pages its last resolution read, with their digests
    project: Path
    record_path: Path
    mode: ResolveOptions


@dataclass(frozen=True, kw_only=True)
class _Guess:
    """``uv lock --offline`` run while podlock was still fetching the pages that could
    vouch for it (checked once they are in), and the uv.lock it replaced."""

    done: Completed
    before: str | None


class UvBackend:
    """Resolution by ``uv lock`` (the default backend)."""

    def __init__(self, uv: str | None = None) -> None:
        self.uv = uv or uv_binary()
        self._fresh: dict[str, str] = {}  # page URL -> digest, fetched during this run
        self._uv_identity: str | None = None
        self._identity_lock = threading.Lock()
        self._vouched: dict[str, str] = {}  # page URL -> digest uv has read online since
        self._first_online = threading.Lock()
        self._online_runs = 0  # ``uv lock`` runs that went online in this podlock run
        self._pages: Future[bool] | None = None  # this round's fetch: whether uv refreshed

    def resolve(self, request: Request, reporter: Reporter) -> dict[str, list[Resolved]]:
        work = [(v, index_plan(request.inputs, v.variant)) for v in request.variants]

        def one(item: tuple[VariantRequirements, IndexPlan]) -> list[Resolved]:
            return self._resolve_variant(request, item[0], item[1], reporter)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="podlock-pages") as pages:
            if not request.mode.offline:
                self._pages = pages.submit(self._prefetch, request, work)
            try:
                if len(work) == 1:
                    results = [one(work[0])]
                else:
                    with ThreadPoolExecutor(max_workers=min(_WORKERS, len(work))) as pool:
                        results = list(pool.map(one, work))
            finally:
                self._pages = None
        return {v.variant.name: r for (v, _), r in zip(work, results, strict=True)}

    def _resolve_variant(
        self, request: Request, vreq: VariantRequirements, plan: IndexPlan, reporter: Reporter
    ) -> list[Resolved]:
        """One ``uv lock`` in a fresh project: the variant's inputs, its own lock's pins."""
        variant, mode = vreq.variant, request.mode
        python = variant.python
        env, secrets = _credentials(plan)
        with tempfile.TemporaryDirectory(prefix="podlock-uv-") as tmp:
            project = Path(tmp)
            write_atomic(project / "pyproject.toml", tomli_w.dumps(generated_project(vreq, plan)))
            previous = _preferences(request, vreq)
            if previous is not None:
                write_atomic(project / "uv.lock", tomli_w.dumps(previous))
            argv = [
                self.uv, "lock", "--project", str(project),
                "--python", find_python(python, self.uv),
            ]  # fmt: skip
            if mode.upgrade:
                argv.append("--upgrade")
            for pkg in mode.upgrade_packages:
                argv += ["--upgrade-package", pkg]
            resolving = reporter.task(f"resolving {variant.name} with uv (Python {python})")
            scope = None if mode.offline else Scope.of([plan])
            if scope is None:
                done = run(
                    [*argv, "--offline"] if mode.offline else argv,
                    env=env, check=False, secrets=secrets,
                )  # fmt: skip
            else:
                record = _record_path(request, vreq)
                done = self._lock_checked(argv, env, secrets, scope, vreq, project, record, mode)
            resolving.done()
            if done.returncode != 0:
                output = strip_log(done.stderr or done.stdout)
                error = uv_error(output, [variant.name], variant.platforms, offline=mode.offline)
                raise in_user_terms(error, [(vreq, plan)], request, offline=mode.offline)
            lock = UvLock.read(project / "uv.lock")
            return lock.split(variant.name, variant.platforms, python)

    def _prefetch(
        self, request: Request, work: Sequence[tuple[VariantRequirements, IndexPlan]]
    ) -> bool:
        """Fetch, in one concurrent batch, the pages every variant's last resolution read;
        uv revalidates each one that changed since as soon as it is read (uvrefresh.py)."""
        urls: set[str] = set()
        records: list[tuple[VariantRequirements, IndexPlan, Record]] = []
        for vreq, plan in work:
            scope = Scope.of([plan])
            if scope is None:
                continue
            record = Record.load(_record_path(request, vreq), self._identity(uv_env()))
            records.append((vreq, plan, record))
            names = {canonicalize_name(n) for n in record.names} | set(vreq.direct)
            urls |= {u for n in names for u in scope.pages(n)}
        expected: dict[str, list[tuple[str, VariantRequirements, IndexPlan]]] = {}
        for vreq, plan, record in records:
            for url, digest in record.pages.items():
                expected.setdefault(url, []).append((digest, vreq, plan))
        refresher = Refresher(self.uv)

        def seen(url: str, now: str) -> None:
            """A page changed since its variant's last resolution goes to uv at once."""
            for old, vreq, plan in expected.get(url, ()):
                index = _index_of(url, plan)
                if index is not None and now != old and self._vouched.get(url) != now:
                    refresher.add(vreq.variant.python, index, _credentials(plan), url, now)

        for url in sorted(urls & self._fresh.keys()):  # read in an earlier round
            seen(url, self._fresh[url])
        todo = urls - self._fresh.keys()
        try:
            self._fresh.update(fetch_digests(todo, _all_indexes(work), on_page=seen))
        finally:
            self._vouched.update(refresher.finish())
        return refresher.used

    def _lock_checked(
        self,
        argv: list[str],
        env: dict[str, str],
        secrets: list[str],
        scope: Scope,
        vreq: VariantRequirements,
        project: Path,
        record_path: Path,
        mode: ResolveOptions,
    ) -> Completed:
        """``uv lock``, from uv's cache when podlock has just seen that the index pages
        behind it are unchanged (see freshness.py), online otherwise.

        The first online run of a podlock run goes alone: each revalidates every page it
        reads, and the variants read mostly the same pages. The pages it read are then
        vouched for (fetched by podlock just before it), so the other variants try their
        cache again before going online, side by side. A variant with no record (a first
        lock, a fresh runner) tries no offline run: only its direct requirements' pages were
        fetched before any run, so no run could vouch for all it reads. It still waits for
        the first online run (three at once, ~150 connections, were slower through a proxy).
        """
        record = Record.load(record_path, self._identity(env))
        guess = self._guess(argv, env, secrets, project, worth=bool(record.pages))
        names = {canonicalize_name(n) for n in record.names} | set(vreq.direct)
        missing = {u for n in names for u in scope.pages(n)} - self._fresh.keys()
        if missing:  # only when the variant's inputs changed within this run (a new round)
            self._fresh.update(fetch_digests(missing, scope.indexes))
        attempt = _Attempt(
            argv=argv, env=env, secrets=secrets, scope=scope, record=record,
            project=project, record_path=record_path, mode=mode,
        )  # fmt: skip
        online_runs = self._online_runs
        done = self._offline(attempt, guess)
        if done is not None:
            return done
        with self._first_online:
            if not self._online_runs:
                return self._online(attempt)
        if self._online_runs > online_runs and record.pages:  # another's online run, since
            done = self._offline(attempt)
        return done if done is not None else self._online(attempt)

    def _guess(
        self,
        argv: list[str],
        env: dict[str, str],
        secrets: list[str],
        project: Path,
        *,
        worth: bool,
    ) -> _Guess | None:
        """While this round's pages are still being fetched, uv's offline answer (0.1 s)
        in the meantime; then wait for them. None when there is nothing to overlap, when
        uv refreshed a page meanwhile (the answer may predate that), or when it is not
        ``worth`` it (no record: nothing could vouch for uv's cache)."""
        pages = self._pages
        if pages is None:
            return None
        guess = None
        if worth and not pages.done():
            uv_lock = project / "uv.lock"
            before = uv_lock.read_text() if uv_lock.exists() else None
            done = run([*argv, "--offline", "-v"], env=env, check=False, secrets=secrets)
            guess = _Guess(done=done, before=before)
        if pages.result() and guess is not None:
            _restore(project / "uv.lock", guess.before)
            return None
        return guess

    def _online(self, r: _Attempt) -> Completed:
        """``uv lock`` online; the pages it searched vouch for uv's cache from now on."""
        done = run([*r.argv, "-v"], env=r.env, check=False, secrets=r.secrets)
        self._online_runs += 1
        found = searched(done.stderr, root=ROOT)
        if done.returncode == 0 and found:
            # Only pages fetched before this run can vouch for what uv cached during it.
            fresh = dict(self._fresh)
            vouched = {u: fresh[u] for n in found for u in r.scope.pages(n) if u in fresh}
            self._vouched.update(vouched)
            _save(r.record, found, vouched, r.record_path, r.mode)
        return done

    def _offline(self, r: _Attempt, guess: _Guess | None = None) -> Completed | None:
        """uv's answer from its cache alone (``guess``'s, if it ran), or None when podlock
        cannot vouch for it."""
        fresh = dict(self._fresh)
        known = {
            u: d for u, d in (*r.record.pages.items(), *self._vouched.items()) if fresh.get(u) == d
        }
        uv_lock = r.project / "uv.lock"
        if not (self._vouched or (r.record.pages and known.keys() >= r.record.pages.keys())):
            if guess is not None:
                _restore(uv_lock, guess.before)
            return None  # a page of the last resolution changed: uv must go online
        if guess is None:
            before = uv_lock.read_text() if uv_lock.exists() else None
            done = run([*r.argv, "--offline", "-v"], env=r.env, check=False, secrets=r.secrets)
        else:
            before, done = guess.before, guess.done
        found = searched(done.stderr, root=ROOT)
        if (
            done.returncode == 0
            and from_cache_only(done.stderr)
            and verified(found, r.scope, Record(uv=r.record.uv, pages=known), fresh)
        ):
            pages = {u: known[u] for n in found for u in r.scope.pages(n)}
            if found and (pages != r.record.pages or sorted(found) != r.record.names):
                _save(r.record, found, pages, r.record_path, r.mode)  # vouched for by another run
            return done
        _restore(uv_lock, before)  # not vouched for: uv must not take it as its preference
        return None

    def _identity(self, env: Mapping[str, str]) -> str:
        """uv's version and cache dir: a record made with other ones vouches for nothing.
        Asked once per backend (two subprocesses), not once per resolution round, nor once
        more by the variants that start while the page fetch asks it."""
        with self._identity_lock:
            if self._uv_identity is None:
                version = run([self.uv, "--version"], env=env).stdout.strip()
                cache = run([self.uv, "cache", "dir"], env=env).stdout.strip()
                self._uv_identity = f"{version} {cache}"
            return self._uv_identity


def _restore(uv_lock: Path, before: str | None) -> None:
    """Put back the uv.lock (the variant's preferences) that an offline run replaced."""
    if before is None:
        uv_lock.unlink(missing_ok=True)
    else:
        write_atomic(uv_lock, before)


def _save(
    record: Record, names: set[str], pages: dict[str, str], path: Path, mode: ResolveOptions
) -> None:
    """Keep what this resolution searched and the digests that vouch for it; a read-only
    command (``outdated``) leaves nothing that a later lock reads."""
    if mode.read_only:
        return
    record.names = sorted(names)
    record.pages = pages
    record.save(path)


def _record_path(request: Request, vreq: VariantRequirements) -> Path:
    """Where the freshness record of this project's variant is kept (a speed hint only);
    the round that adds the runtime reads other pages than the one before, and has its own."""
    key = json.dumps([str(request.inputs.root), vreq.variant.name, vreq.with_runtime])
    return cache_dir() / "uv-freshness" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _credentials(plan: IndexPlan) -> tuple[dict[str, str], list[str]]:
    """uv's environment with the plan's index credentials, and the secrets to redact."""
    env = uv_env()
    for index in plan.indexes:
        var = index.name.upper().replace("-", "_")
        if index.username is not None:
            env[f"UV_INDEX_{var}_USERNAME"] = index.username
        if index.password is not None:
            env[f"UV_INDEX_{var}_PASSWORD"] = index.password
    return env, list(plan.secrets)


def _index_of(url: str, plan: IndexPlan) -> Index | None:
    """The index of ``plan`` that serves page ``url``."""
    for index in plan.indexes:
        if url.startswith(index.url.rstrip("/") + "/"):
            return index
    return None


def _all_indexes(work: Sequence[tuple[VariantRequirements, IndexPlan]]) -> list[Index]:
    return [i for _, plan in work for i in plan.indexes]


def _preferences(request: Request, vreq: VariantRequirements) -> dict[str, Any] | None:
    """The uv.lock that carries the variant's existing pylock as preferences, if any."""
    if request.mode.upgrade:
        return None
    try:
        text = lock_path(request.inputs.root, vreq.variant.name).read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, ValueError):
        return None  # no lock, or a corrupt one: resolve without preferences
    return preference_lock(
        data,
        python=vreq.variant.python,
        upgrade=request.mode.upgrade_packages,
    )
