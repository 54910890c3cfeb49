"""A loopback reverse proxy that fails a share of requests, the way real networks do.

In front of any local HTTP server (the fixture index, a test registry): each request is
forwarded, or met with one fault: ``503``, ``429`` with ``Retry-After: 1``, the connection
closed with no answer (before or after the upstream saw the request), the body cut
halfway, or a ``Content-Length`` larger than the body. Which request gets which fault is
decided by a seeded RNG keyed on (method, path, how many times that pair came before), so
a run's faults do not depend on thread timing. Upstream URLs in text bodies and in
``Location`` are rewritten to the proxy, so a client that follows them stays behind it.
``Faults.reset`` starts a run: a seed and a rate, the counts cleared.
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("503", "429", "drop", "drop-after", "cut", "long")
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}
_TEXT = ("json", "html", "text")


@dataclass
class Faults:
    upstream: str  # host:port
    rate: float = 0.25
    seed: int = 0
    address: str = ""  # host:port of the proxy, once serving
    host: str = ""  # the Host header sent upstream (a virtual host: deb.debian.org); "": the
    # client's (a registry builds its Location answers from it)
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self, seed: int, rate: float) -> None:
        """From now on: faults of ``seed`` at ``rate``, counted afresh."""
        with self.lock:
            self.seed, self.rate = seed, rate
            self.seen.clear()
            self.injected.clear()

    def pick(self, method: str, path: str) -> str | None:
        with self.lock:
            n = self.seen[(method, path)]
            self.seen[(method, path)] += 1
        rng = random.Random(f"{self.seed}:{method}:{path}:{n}")
        if rng.random() >= self.rate:
            return None
        fault = rng.choice(FAULTS)
        with self.lock:
            self.injected[fault] += 1
        return fault


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    faults: Faults

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _handle(self) -> None:
        f = self.faults
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = f.pick(self.command, self.path)
        if fault == "503":
            return self._reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"fault"}]}', {})
        if fault == "429":
            return self._reply(429, b"slow down", {"Retry-After": "1"})
        if fault == "drop":
            return self._drop()
        status, headers, data, whole = self._forward(body)
        if fault == "drop-after":  # the upstream acted on it; the answer is lost
            return self._drop()
        if not whole:  # the upstream's own body fell short of its Content-Length: relayed so
            return self._reply(status, data, headers, cut="short")
        if fault in ("cut", "long") and data and self.command != "HEAD":
            return self._reply(status, data, headers, cut=fault)
        return self._reply(status, data, headers)

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes, bool]:
        """The upstream's answer: status, headers, body and whether the body was whole (a
        registry's 416 declares the blob's length and sends a line of text)."""
        f = self.faults
        conn = http.client.HTTPConnection(f.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Host"] = f.host or self.headers.get("Host") or f.address
        conn.request(self.command, self.path, body=body or None, headers=headers)
        response = conn.getresponse()
        try:
            data, whole = response.read(), True
        except http.client.IncompleteRead as exc:
            data, whole = exc.partial, False
        conn.close()
        out = {k: v for k, v in response.getheaders() if k.lower() not in HOP}
        if "Location" in out:
            out["Location"] = out["Location"].replace(f.upstream, f.address)
        kind = out.get("Content-Type", "")
        if any(t in kind for t in _TEXT):
            data = data.replace(f.upstream.encode(), f.address.encode())
            if "Content-Length" in out and self.command != "HEAD" and whole:
                out["Content-Length"] = str(len(data))
        return response.status, out, data, whole

    def _reply(
        self, code: int, data: bytes, headers: dict[str, str], *, cut: str | None = None
    ) -> None:
        self.send_response(code)
        length = headers.pop("Content-Length", None)
        for k, v in headers.items():
            self.send_header(k, v)
        if self.command == "HEAD":
            self.send_header("Content-Length", length or str(len(data)))
        elif cut == "long":
            self.send_header("Content-Length", str(len(data) + 1000))
        elif cut == "short":
            self.send_header("Content-Length", length or str(len(data)))
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut is None:
            self.wfile.write(data)
            return
        self.wfile.write(data[: len(data) // 2] if cut == "cut" else data)
        self._drop()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up on a dropped answer: expected here, and not podlock's


@contextmanager
def fault_proxy(faults: Faults) -> Iterator[Faults]:
    """Serve ``faults`` on 127.0.0.1 (``faults.address`` is set); stopped on exit."""
    handler = type("Handler", (_Handler,), {"faults": faults})
    server = _Server(("127.0.0.1", 0), handler)
    faults.address = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield faults
    finally:
        server.shutdown()
        server.server_close()
