"""Keep-alive HTTP/1.1 for the requests to ACS, on the standard library's ``http.client``.

Every play costs one request, and on the worker's critical path. httpx spends ~0.9 ms of CPU on a
keep-alive POST on this kind of machine, ``http.client`` ~0.27 ms (docs/PERFORMANCE.md), and
callcue needs none of httpx's extras here: one host, small JSON bodies, no redirects, no cookies.

Each thread keeps its own connection per host (the play jobs run on a thread pool), so no lock is
held across a request. A request is never sent twice: an idle connection the server has closed is
noticed before it is reused (its socket reads as ready), and any failure after that is reported to
the caller, whose retry policy decides.
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes


class NoAnswer(Exception):
    """The request got no HTTP answer: connection refused or lost, or a timeout."""


class Transport(Protocol):
    def request(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> HttpAnswer: ...

    def close(self) -> None: ...


_Key = tuple[str, str, int]


class KeepAlive:
    """``Transport`` over ``http.client``: one persistent connection per thread and host."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []  # every thread's, so close() reaches them
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def request(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> HttpAnswer:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        key = (parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        conn = self._connection(key)
        try:
            conn.request(method, target, body=body, headers=dict(headers))
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise NoAnswer(f"{type(exc).__name__}: {exc}") from exc
        if response.will_close:
            conn.close()
        return HttpAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, payload)

    def _connection(self, key: _Key) -> http.client.HTTPConnection:
        conns: dict[_Key, http.client.HTTPConnection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(key)
        if conn is not None and _closed_by_peer(conn):
            conn.close()  # http.client reconnects on the next request
        if conn is None:
            scheme, host, port = key
            if scheme == "https":
                conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._context())
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
            conns[key] = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _context(self) -> ssl.SSLContext:
        # Built once: a TLS context costs ~25 ms (it loads the CA bundle).
        with self._lock:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            return self._tls

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive socket that reads as ready has been closed (or spoken on) by the server."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
