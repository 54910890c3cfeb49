"""A loopback proxy in front of the real test registry, for what the registry cannot show:
bytes received per request, bearer-token auth (a token service in front of it), and the
registry going away mid-push. Everything else is the real distribution registry's answer."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}


@dataclass
class ProxyState:
    upstream: str
    token_user: str | None = None  # bearer mode: the token service wants these basic creds
    token_password: str | None = None
    down: bool = False  # answer 503 to everything
    fail_after_bytes: int | None = None  # go down once this many upload bytes went through
    received: int = 0  # request body bytes forwarded (uploads)
    counted: tuple[str, ...] = ("/blobs/uploads",)  # requests whose body bytes count
    patches: int = 0
    scopes: list[str] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    # Play a registry with the OCI 1.1 referrers API: manifests with a subject are indexed
    # here, a PUT of one answers OCI-Subject, GET /v2/<repo>/referrers/<digest> lists them.
    referrers_api: bool = False
    referrers: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: ProxyState

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(
        self,
        code: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        length: str | None = None,
    ) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        # A HEAD's answer has no body but the length of what GET would send.
        self.send_header("Content-Length", length if length is not None else str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        s = self.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/token"):
            return self._token()
        with s.lock:
            if s.fail_after_bytes is not None and s.received >= s.fail_after_bytes:
                s.down = True
            down = s.down
        if down:
            return self._reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"down"}]}')
        if s.token_user is not None:
            auth = self.headers.get("Authorization", "")
            if not (auth.startswith("Bearer ") and auth[7:] in s.tokens):
                realm = f"http://{self.headers['Host']}/token"
                return self._reply(
                    401,
                    b"{}",
                    {"WWW-Authenticate": f'Bearer realm="{realm}",service="podlock-test"'},
                )
        if s.referrers_api and self.command == "GET" and "/referrers/" in self.path:
            subject = self.path.rsplit("/", 1)[-1].split("?", 1)[0]
            with s.lock:
                listed = list(s.referrers.get(subject, []))
            index = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": listed,
            }
            return self._reply(
                200,
                json.dumps(index).encode(),
                {"Content-Type": "application/vnd.oci.image.index.v1+json"},
            )
        conn = http.client.HTTPConnection(s.upstream, timeout=60)
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in HOP | {"authorization"}
        }
        headers["Host"] = self.headers["Host"]  # the registry builds Location from it
        conn.request(self.command, self.path, body=body or None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        with s.lock:
            if self.command in ("PATCH", "PUT", "POST") and any(c in self.path for c in s.counted):
                s.received += len(body)
            if self.command == "PATCH" and response.status == 202:
                s.patches += 1
        out = {k: v for k, v in response.getheaders() if k.lower() not in HOP | {"content-length"}}
        if s.referrers_api and self.command == "PUT" and "/manifests/" in self.path:
            self._index_referrer(body, out, response.getheader("Docker-Content-Digest", ""))
        length = response.getheader("Content-Length") if self.command == "HEAD" else None
        self._reply(response.status, data, out, length)
        conn.close()

    def _index_referrer(self, body: bytes, headers: dict[str, str], digest: str) -> None:
        try:
            manifest = json.loads(body)
        except ValueError:
            return
        subject = (
            (manifest.get("subject") or {}).get("digest") if isinstance(manifest, dict) else None
        )
        if not subject:
            return
        entry = {
            "mediaType": manifest.get("mediaType"),
            "digest": digest,
            "size": len(body),
            "artifactType": manifest.get("artifactType"),
        }
        with self.state.lock:
            self.state.referrers.setdefault(subject, []).append(entry)
        headers["OCI-Subject"] = subject

    def _token(self) -> None:
        s = self.state
        want = base64.b64encode(f"{s.token_user}:{s.token_password}".encode()).decode()
        if self.headers.get("Authorization", "") != f"Basic {want}":
            return self._reply(401, b'{"details":"bad credentials"}')
        query = parse_qs(urlsplit(self.path).query)
        with s.lock:
            token = f"token-{len(s.tokens)}"
            s.tokens.add(token)
            s.scopes += query.get("scope", [])
        self._reply(
            200, json.dumps({"token": token}).encode(), {"Content-Type": "application/json"}
        )

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


@contextmanager
def proxy(state: ProxyState) -> Iterator[str]:
    """Serve ``state`` on 127.0.0.1; yields ``127.0.0.1:PORT`` (a registry reference host)."""
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
