"""Index routing per variant: which indexes, in which order, and with which credentials.

Credentials are split off here: URLs that travel further are credential-free, and the
secrets go to the resolver through its environment only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from podlock.errors import InputError
from podlock.inputs.config import PYPI, VariantConfig
from podlock.inputs.discover import Inputs
from podlock.urls import basic_auth, expand_vars, normalize_index, redact, strip_credentials


@dataclass(frozen=True, kw_only=True)
class Index:
    """A named index; ``url`` has no credentials, ``username``/``password`` hold them."""

    name: str
    url: str
    username: str | None = None
    password: str | None = None
    explicit: bool = False  # only for packages routed to it


@dataclass(frozen=True, kw_only=True)
class IndexPlan:
    """A variant's indexes in priority order, the default last, plus package routing."""

    indexes: tuple[Index, ...]
    sources: Mapping[str, str]  # package -> index name
    find_links: tuple[str, ...]
    no_index: bool
    pre: bool
    trusted_hosts: tuple[str, ...]

    @property
    def key(self) -> tuple[object, ...]:
        """Variants with equal keys can share one resolution."""
        return (
            tuple(i for i in self.indexes if not i.explicit),
            self.find_links,
            self.no_index,
            self.pre,
            self.trusted_hosts,
        )

    @property
    def secrets(self) -> list[str]:
        return [s for i in self.indexes for s in (i.password, i.username) if s]


def auth_headers(indexes: Sequence[Index]) -> dict[str, str]:
    """Host (``netloc``) -> ``Authorization`` header, for the indexes with credentials."""
    return {
        urlsplit(i.url).netloc: basic_auth(i.username, i.password)
        for i in indexes
        if i.username is not None or i.password is not None
    }


def index_plan(inputs: Inputs, variant: VariantConfig) -> IndexPlan:
    """Requirements-file options over variant config over project config over PyPI."""
    config = inputs.config
    deps = inputs.of(variant.name)
    options = deps.options
    where = deps.source
    default_raw = variant.index_url or options.index_url or config.index_url or PYPI
    extras_raw = [*variant.extra_index_urls, *options.extra_index_urls, *config.extra_index_urls]
    indexes: list[Index] = []
    for raw in dict.fromkeys(extras_raw):
        indexes.append(_index(raw, where=where, explicit=False))
    sources: dict[str, str] = {}
    for pkg, ref in sorted(variant.sources.items()):
        raw = config.resolve_index(ref)
        index = _index(
            raw, where=config.file or where, explicit=True, name=None if "://" in ref else ref
        )
        if index.name not in {i.name for i in indexes}:
            indexes.append(index)
        sources[pkg] = index.name
    indexes.append(_index(default_raw, where=where, explicit=False, name="default"))
    find_links = tuple(
        dict.fromkeys(_expand(u, where) for u in (*options.find_links, *config.find_links))
    )
    return IndexPlan(
        indexes=tuple(indexes),
        sources=sources,
        find_links=find_links,
        no_index=options.no_index,
        pre=options.pre,
        trusted_hosts=options.trusted_hosts,
    )


def shown_index_urls(inputs: Inputs, variant: VariantConfig) -> dict[str, str]:
    """Each index ``variant`` may use, the default first, as a lock names it (no
    credentials) -> as a requirements file may write it: ``${VAR}`` where the credentials
    go, never a secret (a literal ``user:token@`` becomes ``${INDEX_USERNAME}:...@``)."""
    config = inputs.config
    options = inputs.of(variant.name).options
    raws = [  # the default index first, as index_plan picks it
        variant.index_url or options.index_url or config.index_url or PYPI,
        *variant.extra_index_urls, *options.extra_index_urls, *config.extra_index_urls,
        *(config.indexes.get(ref, ref) for ref in variant.sources.values()),
    ]  # fmt: skip
    shown: dict[str, str] = {}
    literal = 0
    for raw in raws:
        expanded, _ = expand_vars(raw)
        clean = normalize_index(strip_credentials(expanded))
        parts = urlsplit(raw)
        if clean in shown or "@" not in parts.netloc:
            shown.setdefault(clean, clean)
            continue
        user, password = parts.username or "", parts.password
        if "${" not in user + (password or ""):
            literal += 1
            suffix = f"_{literal}" if literal > 1 else ""
            user = f"${{INDEX_USERNAME{suffix}}}" if user else ""
            password = f"${{INDEX_PASSWORD{suffix}}}" if password is not None else None
        userinfo = user + (f":{password}" if password is not None else "")
        shown[clean] = clean.replace("://", f"://{userinfo}@", 1)
    return shown


def _expand(raw: str, where: str) -> str:
    url, missing = expand_vars(raw)
    if missing:
        raise InputError(
            f"index URL {redact(raw)} uses ${{{missing[0]}}}, which is not set",
            file=where,
            hint=f"export {missing[0]}=... before running podlock",
        )
    return url


def _index(raw: str, *, where: str, explicit: bool, name: str | None = None) -> Index:
    url = _expand(raw, where)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "file"):
        raise InputError(f"index URL {redact(raw)} is not http(s)", file=where)
    clean = normalize_index(strip_credentials(url))
    if name is None:
        name = "index-" + hashlib.sha256(clean.encode()).hexdigest()[:8]
    return Index(
        name=re.sub(r"[^a-z0-9-]", "-", name.lower()),
        url=clean,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        explicit=explicit,
    )
