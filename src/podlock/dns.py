"""Host addresses, looked up once per host and kept ``_TTL`` seconds, not once per pooled
connection: a lookup can stall (measured: 1 in ~10 took 5 s on the benchmark machine, so
the 16 connections of one resolution nearly always hit one). http.py's connections use it.
"""

from __future__ import annotations

import socket
import threading
import time

_TTL = 60.0
_addresses: dict[tuple[str, int], tuple[float, str]] = {}
_lock = threading.Lock()


def address(host: str, port: int) -> str:
    """``host``'s address (IPv4 first), looked up at most once per ``_TTL`` in the process;
    one lookup at a time, so threads that connect together share the first's."""
    with _lock:
        now = time.monotonic()
        hit = _addresses.get((host, port))
        if hit is None or now - hit[0] > _TTL:
            infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
            infos.sort(key=lambda info: info[0] != socket.AF_INET)
            hit = (now, str(infos[0][4][0]))
            _addresses[(host, port)] = hit
        return hit[1]
