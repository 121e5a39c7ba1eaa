"""A small HTTP/1.1 client for callbacks: POST a body, read the status, keep the connection.

The emulator stands in for ACS on the same machine as the receiver it drives, so what it spends per
callback is taken from the system under test: httpx's async client costs ~0.7 ms of CPU per POST
here, this one a fraction of that.

Only what a callback needs: POST with a fixed body, ``http`` and ``https``, a response with
``Content-Length``, ``chunked`` or read-to-close, keep-alive with a bounded idle pool per origin.
A connection the peer closed while it was idle is noticed before it is reused, so a request is
never written into a dead connection; any failure after the write closes the connection and raises,
and the caller's retry policy decides what happens next.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024


class PostError(Exception):
    """The request failed; the class name goes on the timeline, as httpx's did."""


class ConnectError(PostError):
    pass


class InvalidURL(PostError):
    pass


class Timeout(PostError):
    pass


class RemoteProtocolError(PostError):
    pass


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def usable(self) -> bool:
        # The event loop has already seen the peer's FIN on a connection that waited in the pool.
        return not (self.writer.is_closing() or self.reader.at_eof())

    def close(self) -> None:
        self.writer.close()


Origin = tuple[str, str, int]


class PostClient:
    def __init__(
        self,
        timeout: float,
        keep_per_origin: int,
        *,
        tls: ssl.SSLContext | None = None,
        user_agent: str = "callcue-emulator",
    ) -> None:
        self.timeout = timeout
        self.keep = keep_per_origin
        self.user_agent = user_agent
        self._idle: defaultdict[Origin, list[_Connection]] = defaultdict(list)
        self._tls = tls  # the system's trust store unless given

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The answer's status code; raises a PostError when there is none."""
        origin, target, host_header = _parse(url)
        head = [f"POST {target} HTTP/1.1", f"Host: {host_header}", f"User-Agent: {self.user_agent}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        try:
            async with asyncio.timeout(self.timeout):
                conn = await self._checkout(origin)
                try:
                    conn.writer.write(request)
                    status, keep = await _read_response(conn.reader)
                except BaseException:
                    conn.close()
                    raise
        except TimeoutError as exc:
            raise Timeout(f"no answer within {self.timeout:g} s") from exc
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError) as exc:
            raise RemoteProtocolError(str(exc) or type(exc).__name__) from exc
        if keep and len(self._idle[origin]) < self.keep:
            self._idle[origin].append(conn)
        else:
            conn.close()
        return status

    async def _checkout(self, origin: Origin) -> _Connection:
        idle = self._idle[origin]
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
        scheme, host, port = origin
        try:
            if scheme == "https":
                reader, writer = await asyncio.open_connection(host, port, ssl=self._tls_context(), limit=MAX_HEAD)
            else:
                reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEAD)
        except OSError as exc:
            raise ConnectError(str(exc)) from exc
        return _Connection(reader, writer)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()


def _parse(url: str) -> tuple[Origin, str, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"{url!r}: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidURL(f"{url!r}: not an http(s) URL")
    default = 443 if parts.scheme == "https" else 80
    port = port or default
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname
    host_header = f"[{host}]" if ":" in host else host
    if port != default:
        host_header += f":{port}"
    return (parts.scheme, host, port), target, host_header


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status, and whether the connection may carry another request; the body is read and dropped."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            version, code, *_ = lines[0].split(" ", 2)
            status = int(code)
        except ValueError as exc:
            raise RemoteProtocolError(f"not an HTTP status line: {lines[0][:80]!r}") from exc
        if status >= 200 or status == 101:
            break  # 1xx answers (100 Continue) precede the real one
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    keep = version == "HTTP/1.1" and fields.get("connection", "").lower() != "close"
    if "chunked" in fields.get("transfer-encoding", "").lower():
        await _drain_chunked(reader)
    elif "content-length" in fields:
        try:
            length = int(fields["content-length"])
        except ValueError as exc:
            raise RemoteProtocolError("bad Content-Length") from exc
        if not 0 <= length <= MAX_BODY:
            raise RemoteProtocolError(f"response body of {length} bytes")
        await reader.readexactly(length)
    elif status not in (204, 304):
        total = 0  # delimited by the end of the connection
        while chunk := await reader.read(65536):
            total += len(chunk)
            if total > MAX_BODY:
                raise RemoteProtocolError("response body too large")
        keep = False
    return status, keep


async def _drain_chunked(reader: asyncio.StreamReader) -> None:
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise RemoteProtocolError("bad chunk size") from exc
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the final empty line
                pass
            return
        total += size
        if total > MAX_BODY:
            raise RemoteProtocolError("response body too large")
        await reader.readexactly(size + 2)
