"""The Simple Repository API: PEP 691 JSON, with the PEP 503 HTML page as fallback.

A project page becomes a list of ``Link``s (one per distribution file), with the PEP 592
yank, PEP 658/714 metadata and ``requires-python`` facts the page gives. Parsing is pure;
``pages.ProjectPages`` fetches (once per index and name, shared by every variant's
resolution) and caches the parsed form.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)
_ANCHOR = re.compile(r"<a\s([^>]*)>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_ATTR = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


@dataclass(frozen=True, kw_only=True, slots=True)
class Link:
    """One distribution file on a project page."""

    filename: str
    url: str  # absolute, without the hash fragment
    sha256: str | None
    requires_python: str | None = None
    yanked: str | None = None  # the reason ("" when none was given); None: not yanked
    metadata: bool = False  # PEP 658/714: ``url + ".metadata"`` exists
    metadata_sha256: str | None = None
    size: int | None = None
    upload_time: datetime | None = None

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True, kw_only=True, slots=True)
class Dist:
    """A link with its filename parsed: the name, version and (for wheels) tags."""

    link: Link
    name: NormalizedName
    version: Version
    tags: frozenset[Tag] | None  # None for an sdist


def parse_dist(link: Link) -> Dist | None:
    """The dist a link names, or None for files installers don't use (.egg, .exe, ...)."""
    try:
        if link.is_wheel:
            name, version, _, tags = parse_wheel_filename(link.filename)
            return Dist(link=link, name=name, version=version, tags=tags)
        name, version = parse_sdist_filename(link.filename)
        return Dist(link=link, name=name, version=version, tags=None)
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        return None


def parse_json_page(body: bytes, page_url: str) -> list[Link]:
    """A PEP 691 project page."""
    data = json.loads(body)
    links: list[Link] = []
    for item in data.get("files", []):
        hashes = item.get("hashes") or {}
        metadata = item.get("core-metadata", item.get("data-dist-info-metadata", False))
        yanked = item.get("yanked", False)
        links.append(
            Link(
                filename=item["filename"],
                url=urljoin(page_url, item["url"]).split("#", 1)[0],
                sha256=hashes.get("sha256"),
                requires_python=item.get("requires-python") or None,
                yanked=(yanked if isinstance(yanked, str) else "") if yanked else None,
                metadata=bool(metadata),
                metadata_sha256=metadata.get("sha256") if isinstance(metadata, dict) else None,
                size=item.get("size"),
                upload_time=_time(item.get("upload-time")),
            )
        )
    return links


def parse_html_page(body: bytes, page_url: str) -> list[Link]:
    """A PEP 503 project page (anchors; attributes per PEP 503/592/658/714)."""
    text = body.decode("utf-8", errors="replace")
    links: list[Link] = []
    for match in _ANCHOR.finditer(text):
        attrs: dict[str, str] = {}
        for a in _ATTR.finditer(match.group(1)):
            value = a.group(2) if a.group(2) is not None else a.group(3) or a.group(4) or ""
            attrs[a.group(1).lower()] = html.unescape(value)
        href = attrs.get("href")
        if not href:
            continue
        url = urljoin(page_url, href)
        base, _, fragment = url.partition("#")
        sha256 = None
        for part in fragment.split("&"):
            algo, _, digest = part.partition("=")
            if algo == "sha256" and digest:
                sha256 = digest.lower()
        metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        meta_sha = None
        if metadata and metadata.startswith("sha256="):
            meta_sha = metadata.removeprefix("sha256=")
        links.append(
            Link(
                filename=unquote(urlsplit(base).path.rsplit("/", 1)[-1]),
                url=base,
                sha256=sha256,
                requires_python=attrs.get("data-requires-python") or None,
                yanked=attrs.get("data-yanked"),
                metadata=metadata is not None and metadata.lower() != "false",
                metadata_sha256=meta_sha,
                upload_time=_time(attrs.get("data-upload-time")),
            )
        )
    return links


def parse_page(body: bytes, content_type: str, page_url: str) -> list[Link]:
    if "json" in content_type:
        return parse_json_page(body, page_url)
    return parse_html_page(body, page_url)


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
