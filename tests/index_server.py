"""A hermetic, in-process package index server for podlock's tests.

Serves the directories written by ``fixtures/index/make_index.py`` (one
sub-directory per index, each with a ``packages.json`` manifest)::

    /<index>/simple/                      PEP 503 / PEP 691 project list
    /<index>/simple/<project>/            PEP 503 / PEP 691 project page
    /<index>/files/<filename>             distribution files (HEAD, Range)
    /<index>/files/<filename>.metadata    PEP 658 / PEP 714 core metadata

Content negotiation follows PEP 691: a request whose ``Accept`` header prefers
``application/vnd.pypi.simple.v1+json`` (or ``?format=...``) gets JSON,
everything else HTML.  ``html_only=True`` emulates a restricted proxy that only
speaks PEP 503 HTML and provides no PEP 658 metadata.  Indexes listed in
``auth_indexes`` (default: ``private``) require HTTP basic auth with
:data:`PRIVATE_USER` / :data:`PRIVATE_PASSWORD`.

The module only uses the standard library, so it can be used outside pytest.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import threading
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NamedTuple, Self
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = [
    "HTML_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "PRIVATE_INDEX",
    "PRIVATE_PASSWORD",
    "PRIVATE_USER",
    "IndexServer",
    "LoggedRequest",
    "normalize_name",
]

PRIVATE_INDEX: Final = "private"
PRIVATE_USER: Final = "alice"
PRIVATE_PASSWORD: Final = "s3cret-token"

JSON_CONTENT_TYPE: Final = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPE: Final = "application/vnd.pypi.simple.v1+html"
MANIFEST_NAME: Final = "packages.json"
API_VERSION: Final = "1.1"

_JSON_TYPES: Final = frozenset({JSON_CONTENT_TYPE, "application/vnd.pypi.simple.latest+json"})
_HTML_TYPES: Final = frozenset(
    {HTML_CONTENT_TYPE, "application/vnd.pypi.simple.latest+html", "text/html"}
)


def normalize_name(name: str) -> str:
    """PEP 503 project name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


class LoggedRequest(NamedTuple):
    """One request as seen by the server (``Authorization`` is never kept)."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _File:
    project: str
    filename: str
    sha256: str
    size: int
    yanked: str | bool
    requires_python: str | None
    upload_time: str | None
    metadata_sha256: str | None


@dataclass(frozen=True)
class _Project:
    name: str
    normalized: str
    versions: tuple[str, ...]
    files: tuple[_File, ...]


@dataclass(frozen=True)
class _Index:
    name: str
    directory: Path
    projects: Mapping[str, _Project]
    files: Mapping[str, _File]


def _load_index(directory: Path) -> _Index:
    raw: Any = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    files: dict[str, _File] = {}
    by_project: dict[str, list[_File]] = {}
    for item in raw["files"]:
        metadata_sha = item.get("metadata-sha256") if item.get("metadata") else None
        entry = _File(
            project=normalize_name(str(item["project"])),
            filename=str(item["filename"]),
            sha256=str(item["sha256"]),
            size=int(item["size"]),
            yanked=item.get("yanked", False),
            requires_python=item.get("requires-python"),
            upload_time=item.get("upload-time"),
            metadata_sha256=metadata_sha,
        )
        files[entry.filename] = entry
        by_project.setdefault(entry.project, []).append(entry)
    projects: dict[str, _Project] = {}
    declared: Mapping[str, Any] = raw.get("projects", {})
    for key, entries in by_project.items():
        info = declared.get(key, {})
        versions = tuple(str(v) for v in info.get("versions", ()))
        projects[key] = _Project(
            name=str(info.get("name", key)),
            normalized=key,
            versions=versions,
            files=tuple(sorted(entries, key=lambda f: f.filename)),
        )
    return _Index(directory.name, directory, projects, files)


def _accept_prefers_json(accept: str | None) -> bool:
    """True when the ``Accept`` header ranks PEP 691 JSON above HTML."""
    if not accept:
        return False
    best_json = 0.0
    best_html = 0.0
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media in _JSON_TYPES:
            best_json = max(best_json, quality)
        elif media in _HTML_TYPES or media in {"*/*", "text/*"}:
            best_html = max(best_html, quality)
    return best_json > 0 and best_json >= best_html


class _UnsatisfiableRangeError(Exception):
    """The requested byte range lies outside the file."""


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Parse a single ``bytes=`` range into an inclusive ``(start, end)``.

    Returns ``None`` when the header must be ignored (other units, multiple
    ranges, syntax errors) and raises :class:`_UnsatisfiableRangeError` when
    the range does not overlap the file.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, sep, last = (piece.strip() for piece in spec.partition("-"))
    if not sep or not (first or last):
        return None
    if (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _UnsatisfiableRangeError(header)
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _UnsatisfiableRangeError(header)
    return start, min(end, size - 1)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: IndexServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients (uv) routinely drop connections mid-response."""


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "podlock-fixture-index/1.0"
    sys_version = ""

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request logging to stderr."""

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    # -- plumbing ---------------------------------------------------------

    def _dispatch(self, *, head: bool) -> None:
        owner = self.server.owner
        owner._record(self.command, self.path, self.headers.items())
        try:
            self._route(head=head)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        head: bool,
        content_type: str = "text/plain; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.server.owner._count(f"status:{status}")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _error(self, status: HTTPStatus, *, head: bool, **headers: str) -> None:
        body = f"{status.value} {status.phrase}\n".encode()
        self._send(status.value, body, head=head, headers=headers)

    def _redirect(self, location: str, query: str, *, head: bool) -> None:
        self.server.owner._count("redirect")
        if query:
            location = f"{location}?{query}"
        self._send(
            HTTPStatus.MOVED_PERMANENTLY.value, b"", head=head, headers={"Location": location}
        )

    def _authorized(self, index: str) -> bool:
        owner = self.server.owner
        if index not in owner.auth_indexes:
            return True
        header = self.headers.get("Authorization")
        if not header:
            owner._count("auth:missing")
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            owner._count("auth:bad")
            return False
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            owner._count("auth:bad")
            return False
        if decoded != f"{owner.username}:{owner.password}":
            owner._count("auth:bad")
            return False
        owner._count("auth:ok")
        return True

    # -- routing ----------------------------------------------------------

    def _route(self, *, head: bool) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        path = unquote(split.path)
        parts = path.split("/")
        # ["", index, "simple" | "files", ...]
        if len(parts) < 3 or parts[0] != "" or parts[1] not in owner.indexes:
            self._error(HTTPStatus.NOT_FOUND, head=head)
            return
        index = owner.indexes[parts[1]]
        if not self._authorized(index.name):
            self._error(
                HTTPStatus.UNAUTHORIZED,
                head=head,
                **{"WWW-Authenticate": f'Basic realm="{index.name}"'},
            )
            return
        section, rest = parts[2], parts[3:]
        if section == "simple":
            self._simple(index, rest, split.query, head=head)
        elif section == "files" and len(rest) == 1 and rest[0]:
            self._file(index, rest[0], head=head)
        else:
            self._error(HTTPStatus.NOT_FOUND, head=head)

    def _wants_json(self, query: str) -> bool:
        if self.server.owner.html_only:
            return False
        formats = parse_qs(query).get("format")
        if formats:
            # tolerate an unescaped "+" (decoded to a space by parse_qs)
            return formats[-1].replace(" ", "+") in _JSON_TYPES
        return _accept_prefers_json(self.headers.get("Accept"))

    def _simple(self, index: _Index, rest: list[str], query: str, *, head: bool) -> None:
        owner = self.server.owner
        base = f"/{quote(index.name)}/simple/"
        if not rest:  # "/<index>/simple"
            self._redirect(base, query, head=head)
            return
        if rest == [""]:
            owner._count("simple-root")
            self._root_page(index, query, head=head)
            return
        project, tail = rest[0], rest[1:]
        if tail not in ([], [""]):
            self._error(HTTPStatus.NOT_FOUND, head=head)
            return
        normalized = normalize_name(project)
        if project != normalized or not tail:
            self._redirect(f"{base}{quote(normalized)}/", query, head=head)
            return
        entry = index.projects.get(normalized)
        if entry is None:
            self._error(HTTPStatus.NOT_FOUND, head=head)
            return
        owner._count("simple-project")
        self._project_page(index, entry, query, head=head)

    def _page(self, body: bytes, *, as_json: bool, head: bool) -> None:
        owner = self.server.owner
        owner._count("format:json" if as_json else "format:html")
        if as_json:
            content_type = JSON_CONTENT_TYPE
        elif owner.html_only:
            content_type = "text/html; charset=utf-8"
        else:
            content_type = HTML_CONTENT_TYPE
        self._send(
            HTTPStatus.OK.value,
            body,
            head=head,
            content_type=content_type,
            headers={"Vary": "Accept", "Cache-Control": "max-age=0, must-revalidate"},
        )

    def _root_page(self, index: _Index, query: str, *, head: bool) -> None:
        names = sorted(index.projects)
        if self._wants_json(query):
            document = {
                "meta": {"api-version": API_VERSION},
                "projects": [{"name": index.projects[n].name} for n in names],
            }
            self._page(json.dumps(document).encode(), as_json=True, head=head)
            return
        links = "\n".join(
            f'<a href="{quote(name)}/">{html.escape(index.projects[name].name)}</a><br/>'
            for name in names
        )
        body = _html_document("Simple index", links, self._html_version())
        self._page(body, as_json=False, head=head)

    def _html_version(self) -> str:
        return "1.0" if self.server.owner.html_only else API_VERSION

    def _project_page(self, index: _Index, project: _Project, query: str, *, head: bool) -> None:
        owner = self.server.owner
        advertise_metadata = not owner.html_only
        if self._wants_json(query):
            files: list[dict[str, object]] = []
            for item in project.files:
                record: dict[str, object] = {
                    "filename": item.filename,
                    "url": owner.file_url(index.name, item.filename),
                    "hashes": {"sha256": item.sha256},
                    "size": item.size,
                    "yanked": item.yanked,
                }
                if item.requires_python is not None:
                    record["requires-python"] = item.requires_python
                if item.upload_time is not None:
                    record["upload-time"] = item.upload_time
                metadata: dict[str, str] | bool = False
                if advertise_metadata and item.metadata_sha256 is not None:
                    metadata = {"sha256": item.metadata_sha256}
                record["core-metadata"] = metadata
                record["data-dist-info-metadata"] = metadata
                files.append(record)
            document = {
                "meta": {"api-version": API_VERSION},
                "name": project.normalized,
                "versions": list(project.versions),
                "files": files,
            }
            self._page(json.dumps(document).encode(), as_json=True, head=head)
            return
        lines: list[str] = []
        for item in project.files:
            href = f"{owner.file_url(index.name, item.filename)}#sha256={item.sha256}"
            attributes = [f'href="{html.escape(href)}"']
            if item.requires_python is not None:
                attributes.append(f'data-requires-python="{html.escape(item.requires_python)}"')
            if item.yanked is not False:
                reason = "" if item.yanked is True else str(item.yanked)
                attributes.append(f'data-yanked="{html.escape(reason)}"')
            if advertise_metadata and item.metadata_sha256 is not None:
                value = f"sha256={item.metadata_sha256}"
                attributes.append(f'data-dist-info-metadata="{value}"')
                attributes.append(f'data-core-metadata="{value}"')
            lines.append(f"<a {' '.join(attributes)}>{html.escape(item.filename)}</a><br/>")
        title = f"Links for {html.escape(project.normalized)}"
        body = _html_document(title, "\n".join(lines), self._html_version())
        self._page(body, as_json=False, head=head)

    def _file(self, index: _Index, filename: str, *, head: bool) -> None:
        owner = self.server.owner
        if filename.endswith(".metadata") and filename not in index.files:
            dist = index.files.get(filename.removesuffix(".metadata"))
            if dist is None or dist.metadata_sha256 is None or owner.html_only:
                self._error(HTTPStatus.NOT_FOUND, head=head)
                return
            owner._count("metadata")
            data = (index.directory / filename).read_bytes()
            self._send(HTTPStatus.OK.value, data, head=head, content_type="text/plain")
            return
        entry = index.files.get(filename)
        if entry is None:
            self._error(HTTPStatus.NOT_FOUND, head=head)
            return
        owner._count("file")
        data = (index.directory / filename).read_bytes()
        size = len(data)
        headers = {"Accept-Ranges": "bytes", "ETag": f'"{entry.sha256}"'}
        content_type = "application/octet-stream"
        range_header = self.headers.get("Range")
        if range_header:
            try:
                span = _parse_range(range_header, size)
            except _UnsatisfiableRangeError:
                owner._count("range:unsatisfiable")
                self._error(
                    HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                    head=head,
                    **{"Content-Range": f"bytes */{size}"},
                )
                return
            if span is not None:
                start, end = span
                owner._count("range")
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                self._send(
                    HTTPStatus.PARTIAL_CONTENT.value,
                    data[start : end + 1],
                    head=head,
                    content_type=content_type,
                    headers=headers,
                )
                return
        self._send(HTTPStatus.OK.value, data, head=head, content_type=content_type, headers=headers)


def _html_document(title: str, body: str, version: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{version}">\n'
        f"<title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n"
        f"{body}\n</body>\n</html>\n"
    ).encode()


class IndexServer:
    """Serve a ``make_index.py`` output directory on ``127.0.0.1``.

    The server starts listening (on a random free port unless ``port`` is
    given) and serving in a daemon thread as soon as it is constructed; use it
    as a context manager or call :meth:`stop`.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        html_only: bool = False,
        auth_indexes: Collection[str] = (PRIVATE_INDEX,),
        username: str = PRIVATE_USER,
        password: str = PRIVATE_PASSWORD,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.root = Path(root)
        self.html_only = html_only
        """Mutable: may be flipped between requests."""
        self.auth_indexes = frozenset(auth_indexes)
        self.username = username
        self.password = password
        self.indexes: dict[str, _Index] = {
            manifest.parent.name: _load_index(manifest.parent)
            for manifest in sorted(self.root.glob(f"*/{MANIFEST_NAME}"))
        }
        if not self.indexes:
            raise FileNotFoundError(f"no */{MANIFEST_NAME} below {self.root}")
        self._lock = threading.Lock()
        self._log: list[LoggedRequest] = []
        self._counters: Counter[str] = Counter()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.owner = self
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"IndexServer:{self.port}",
            daemon=True,
        )
        self._stopped = False
        self._thread.start()

    # -- lifecycle --------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- URLs -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    def url(self, index: str = "pypi", *, auth: bool = False) -> str:
        """Simple API root of ``index`` (no trailing slash), e.g.
        ``http://127.0.0.1:PORT/pypi/simple``; ``auth=True`` embeds the
        credentials (``http://alice:s3cret-token@127.0.0.1:PORT/...``)."""
        if index not in self.indexes:
            raise KeyError(f"unknown index {index!r}; have {sorted(self.indexes)}")
        netloc = f"{self.host}:{self.port}"
        if auth:
            netloc = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@{netloc}"
        return f"http://{netloc}/{quote(index)}/simple"

    def file_url(self, index: str, filename: str) -> str:
        """Absolute URL of a distribution file (no credentials)."""
        return f"{self.base_url}/{quote(index)}/files/{quote(filename)}"

    # -- request log ------------------------------------------------------

    def _record(self, method: str, path: str, headers: Iterable[tuple[str, str]]) -> None:
        kept: dict[str, str] = {}
        for key, value in headers:
            lowered = key.lower()
            if lowered in {"authorization", "proxy-authorization"}:
                continue
            kept[lowered] = f"{kept[lowered]}, {value}" if lowered in kept else value
        with self._lock:
            self._log.append(LoggedRequest(method, path, kept))
            self._counters[method] += 1
            self._counters["requests"] += 1

    def _count(self, key: str) -> None:
        with self._lock:
            self._counters[key] += 1

    @property
    def requests(self) -> list[LoggedRequest]:
        """Snapshot of all requests so far, oldest first."""
        with self._lock:
            return list(self._log)

    @property
    def counters(self) -> Counter[str]:
        """Snapshot of counters.

        Keys: ``requests``, ``GET``, ``HEAD``, ``status:<code>``, ``redirect``,
        ``simple-root``, ``simple-project``, ``format:json``, ``format:html``,
        ``file``, ``metadata``, ``range``, ``range:unsatisfiable``,
        ``auth:ok``, ``auth:missing``, ``auth:bad``.
        """
        with self._lock:
            return Counter(self._counters)

    def requested_paths(self, method: str | None = None, prefix: str = "") -> list[str]:
        """Paths requested (optionally filtered by method and path prefix)."""
        return [
            item.path
            for item in self.requests
            if (method is None or item.method == method) and item.path.startswith(prefix)
        ]

    def downloaded(self, index: str = "pypi") -> list[str]:
        """File names fetched with GET from ``index`` (including ``.metadata``)."""
        prefix = f"/{index}/files/"
        return [unquote(path[len(prefix) :]) for path in self.requested_paths("GET", prefix)]

    def clear_log(self) -> None:
        """Forget logged requests and reset the counters."""
        with self._lock:
            self._log.clear()
            self._counters.clear()
