"""The one HTTP layer: every request podlock sends (indexes, registries, token services,
Debian mirrors) goes through a ``Client``: one pooled session per host; retries with
exponential backoff and jitter for connection and read failures and 408/429/5xx, honouring
``Retry-After``; no new attempt after the operation's deadline; credentials attached per
host, never shown (URLs in messages go through ``redact``); typed errors that say whether
the server kept failing (``Unreachable``) or refused (``Refused``). ``download`` resumes a
cut body with ``Range`` and starts over when the server ignores it.

Tuning: ``PODLOCK_HTTP_RETRIES`` (default 6), ``PODLOCK_HTTP_BACKOFF`` (first wait, after
the retry at once, default 0.25 s), ``PODLOCK_HTTP_MAX_WAIT`` (longest wait, ``Retry-After``
included, default 15 s), ``PODLOCK_HTTP_DEADLINE`` (no new attempt after it, default 600 s).
With the defaults a host that never answers is given up after under 8 s of waits.
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
import urllib3

from podlock.dns import address
from podlock.errors import PodlockError
from podlock.urls import basic_auth, redact

TRANSIENT = frozenset((408, 429, 500, 502, 503, 504))
Response = requests.Response
# A body cut short or a connection dropped while reading: resumable, worth another try.
BODY_ERRORS: tuple[type[Exception], ...] = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
)
_CHUNK = 1 << 20


def _env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, ""))
    except ValueError:
        return default


@dataclass(frozen=True, kw_only=True)
class Policy:
    """How hard to try: ``retries`` more attempts after the first, waits of ``backoff`` *
    2^n seconds (with jitter, capped at ``max_wait``), none started after ``deadline``."""

    retries: int = field(default_factory=lambda: int(_env("PODLOCK_HTTP_RETRIES", 6)))
    backoff: float = field(default_factory=lambda: _env("PODLOCK_HTTP_BACKOFF", 0.25))
    max_wait: float = field(default_factory=lambda: _env("PODLOCK_HTTP_MAX_WAIT", 15.0))
    deadline: float = field(default_factory=lambda: _env("PODLOCK_HTTP_DEADLINE", 600.0))
    timeout: tuple[float, float] = (10.0, 60.0)  # connect, read (between two bytes)

    def wait(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep after failed attempt ``attempt`` (from 1): none after the first
        (as urllib3: most faults are one dropped connection), then ``backoff`` * 2^n."""
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        jitter = 0.5 + random.random() / 2
        return (
            0.0 if attempt < 2 else min(self.backoff * 2.0 ** (attempt - 2) * jitter, self.max_wait)
        )


class HttpError(PodlockError):
    """A request that did not get the answer it needed; ``url`` is redacted."""

    def __init__(
        self, message: str, *, url: str, status: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.url = url
        self.status = status


class Unreachable(HttpError):
    """The server kept failing (no connection, cut bodies, 429/5xx) through every retry."""


class Refused(HttpError):
    """A final answer that is not the one asked for: 401/403 (credentials), 404, other 4xx."""


@dataclass
class _Operation:
    """One logical request's retry state: attempts so far and its deadline."""

    policy: Policy
    url: str
    what: str
    started: float = field(default_factory=time.monotonic)
    attempts: int = 0

    def failed(self, cause: str, retry_after: float | None = None, *, status: int | None) -> None:
        """Count a transient failure; sleep before the next attempt, or raise Unreachable."""
        self.attempts += 1
        late = time.monotonic() - self.started > self.policy.deadline
        if self.attempts > self.policy.retries or late:
            why = "the deadline passed" if late else f"{self.attempts} attempts"
            raise Unreachable(
                f"could not {self.what} {redact(self.url)}: {cause} ({why})",
                url=redact(self.url),
                status=status,
                hint="the server or the network kept failing; run the command again (finished "
                "downloads are kept), or raise PODLOCK_HTTP_RETRIES / PODLOCK_HTTP_DEADLINE",
            )
        time.sleep(self.policy.wait(self.attempts, retry_after))


class Sink(Protocol):
    """Where ``download`` writes: ``size`` bytes so far; ``restart`` drops them."""

    size: int

    def write(self, data: bytes) -> object: ...

    def restart(self) -> None: ...


class Client:
    """Requests with retries, per-host sessions and credentials. Thread-safe.

    ``auth``: netloc -> ``Authorization`` value (index credentials); a URL's own userinfo
    is used for its request and stripped from it."""

    def __init__(
        self, *, auth: Mapping[str, str] | None = None, policy: Policy | None = None
    ) -> None:
        self.auth = dict(auth or {})
        self.policy = policy or Policy()
        self._sessions: dict[tuple[str, str], requests.Session] = {}
        self._lock = threading.Lock()

    def session(self, url: str) -> requests.Session:
        """The pooled session for ``url``'s host (connections reused across threads)."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc.rsplit("@", 1)[-1])
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = requests.Session()
                adapter = _Adapter(pool_connections=4, pool_maxsize=32)
                session.mount(f"{parts.scheme}://", adapter)
                # The environment's CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) and proxies
                # (HTTPS_PROXY, NO_PROXY) apply, as in pip; ~/.netrc does not: credentials
                # come from podlock's index and registry configuration only (a set ``auth``
                # keeps requests from reading it).
                session.auth = _no_netrc
                self._sessions[key] = session
            return session

    def request(
        self,
        method: str,
        url: str,
        *,
        ok: Collection[int] | None = (200,),
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        stream: bool = False,
        retry: bool = True,
        redirects: bool = True,
        what: str | None = None,
    ) -> Response:
        """One request, retried while it fails transiently. Returns the first answer whose
        status is in ``ok`` (any final, non-transient one when ``ok`` is None); any other
        final answer raises Refused. ``retry=False``: one attempt only."""
        policy = self.policy if retry else Policy(retries=0, timeout=self.policy.timeout)
        what = what or ("fetch" if method in ("GET", "HEAD") else f"send {method} to")
        op = _Operation(policy, url, what)
        target, sent = self._prepare(url, headers)
        while True:
            try:
                response = self.session(target).request(
                    method,
                    target,
                    headers=sent,
                    data=data,
                    stream=stream,
                    timeout=policy.timeout,
                    allow_redirects=redirects,
                )
            except requests.RequestException as exc:
                op.failed(_describe(exc), status=None)
                continue
            status = response.status_code
            if (ok is None and status not in TRANSIENT) or (ok is not None and status in ok):
                return response
            response.close()
            if status in TRANSIENT:
                op.failed(f"HTTP {status}", _retry_after(response), status=status)
                continue
            raise _refused(method, url, status, what)

    def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, what: str = "fetch"
    ) -> bytes:
        """The whole body of a 200 answer to a GET (retried, cut bodies included)."""
        return self.request("GET", url, headers=headers, what=what).content

    def download(
        self,
        url: str,
        sink: Sink,
        *,
        headers: Mapping[str, str] | None = None,
        what: str = "download",
    ) -> None:
        """GET ``url`` into ``sink``, continuing from ``sink.size`` with ``Range``; a cut
        body or dropped connection resumes where it stopped, a server that ignores the
        range (200, or a 206 elsewhere) starts over.
        Attempts that make progress do not count against the retries."""
        op = _Operation(self.policy, url, what)
        while True:
            have = sink.size
            extra = {"Range": f"bytes={have}-"} if have else {}
            response = self.request(
                "GET",
                url,
                ok=(200, 206, 416),
                headers={**(headers or {}), **extra},
                stream=True,
                what=what,
            )
            with response:
                status = response.status_code
                if status == 416 and response.headers.get("Content-Range", "") == f"bytes */{have}":
                    return  # it was all here: the cut answer had overstated its length
                if status == 416 and not have:
                    raise _refused("GET", url, status, what)
                if have and not _resumes(response, have):  # ignored or refused: start over
                    sink.restart()
                    if status == 416:
                        continue
                try:
                    _copy(response, sink)
                    return
                except BODY_ERRORS as exc:
                    cause = _describe(exc)
            if sink.size > have:
                op.attempts = 0  # progress: only failures in a row count
            op.failed(f"the body was cut ({cause})", status=None)

    def close(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _prepare(self, url: str, headers: Mapping[str, str] | None) -> tuple[str, dict[str, str]]:
        """The URL without userinfo and the headers with its credentials."""
        parts = urlsplit(url)
        sent = {"User-Agent": "podlock", **(headers or {})}
        if parts.username is not None or parts.password is not None:
            user, password = unquote(parts.username or ""), unquote(parts.password or "")
            sent.setdefault("Authorization", basic_auth(user, password))
            netloc = parts.netloc.rsplit("@", 1)[-1]
            url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        elif parts.netloc in self.auth:
            sent.setdefault("Authorization", self.auth[parts.netloc])
        return url, sent


def _no_netrc(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """An auth that changes nothing (headers carry the credentials)."""
    return request


def _pinned(conn: Any, connect: Callable[[], socket.socket]) -> socket.socket:
    """``connect()`` to ``address(host)`` (dns.py); the name is back before TLS (SNI, the
    certificate check) and the Host header read it. A failed lookup is urllib3's to report."""
    name = conn._dns_host
    with contextlib.suppress(OSError):
        conn._dns_host = address(name, conn.port)
    try:
        return connect()
    finally:
        conn._dns_host = name


class _HTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _pinned(self, super()._new_conn)


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _pinned(self, super()._new_conn)


_POOLS = {  # urllib3's pools, making the connections above
    "http": type("Pool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": _HTTPConnection}),
    "https": type("Pool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": _HTTPSConnection}),
}


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter with connections that use ``address``."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS


def urllib3_retry(policy: Policy | None = None) -> urllib3.util.Retry:
    """``policy`` for a client podlock does not drive itself (the Kubernetes client, which
    sits on urllib3): connection failures, and 429/5xx answers to any method but POST, are
    retried with backoff and ``Retry-After``. POST is retried only when it never reached the
    server: a create whose answer was lost must not run twice."""
    policy = policy or Policy()
    return urllib3.util.Retry(
        total=policy.retries,
        backoff_factor=policy.backoff,
        backoff_max=policy.max_wait,
        backoff_jitter=policy.backoff / 2,
        status_forcelist=TRANSIENT,
        allowed_methods=frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"}),
        respect_retry_after_header=True,
        raise_on_status=False,  # the last answer goes to the caller, which names it
        raise_on_redirect=False,
    )


def _resumes(response: Response, have: int) -> bool:
    """Whether a ranged GET's answer continues at byte ``have``."""
    if response.status_code != 206:
        return False
    got = response.headers.get("Content-Range", "")  # bytes START-END/TOTAL
    try:
        return int(got.split(" ", 1)[1].split("-", 1)[0]) == have
    except (IndexError, ValueError):
        return False


def _copy(response: Response, sink: Sink) -> None:
    """The body into ``sink``, raw (no content decoding: offsets are the server's bytes).
    A body shorter than its ``Content-Length`` raises (urllib3 enforces it)."""
    for chunk in response.raw.stream(_CHUNK, decode_content=False):
        sink.write(chunk)


def _retry_after(response: Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        with contextlib.suppress(TypeError, ValueError):  # an HTTP date
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    return None


def _describe(exc: BaseException) -> str:
    """A short cause: the exception's type and, for urllib3's wrapped ones, the reason."""
    inner = exc.args[0] if exc.args else None
    text = redact(str(getattr(inner, "reason", None) or inner or ""))[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_HINTS = {
    401: "check the credentials for this host (index URL userinfo, or docker login)",
    404: "check the URL: the server has no such file (was it removed from the index?)",
}


def _refused(method: str, url: str, status: int, what: str) -> Refused:
    shown = redact(url)
    message = f"could not {what} {shown}: the server refused {method} with HTTP {status}"
    return Refused(
        message, url=shown, status=status, hint=_HINTS.get(401 if status == 403 else status)
    )
