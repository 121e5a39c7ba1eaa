"""emulator.http_post against real loopback servers: a scripted asyncio server and uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from emulator.http_post import ConnectError, InvalidURL, PostClient, RemoteProtocolError, Timeout
from emulator.tls import write_self_signed
from tests.emulator.support import ServerGroup, ssl_context_for

Answer = Callable[[bytes], Awaitable[bytes | None]]  # request bytes -> raw answer (None: close silently)


@dataclass
class Scripted:
    """A raw TCP server: each request is answered by ``answer``; connections and requests are counted."""

    answer: Answer
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    close_after_reply: bool = False
    server: asyncio.Server | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/cb?secret=s"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.lower().split(b"\r\n")
                length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                reply = await self.answer(request)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if self.close_after_reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Answer], Awaitable[Scripted]]]:
    made: list[Scripted] = []

    async def start(answer: Answer) -> Scripted:
        server = Scripted(answer)
        server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        made.append(server)
        return server

    yield start
    for server in made:
        assert server.server is not None
        server.server.close()
        for writer in server.writers:
            writer.close()
    await asyncio.sleep(0.01)  # the handlers see their connections end before the loop does


def _ok(body: bytes = b'{"ok":1}', extra: str = "") -> Answer:
    async def answer(_: bytes) -> bytes:
        return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body

    return answer


async def test_posts_the_body_and_headers_and_reuses_the_connection(
    scripted: Callable[..., Awaitable[Scripted]],
) -> None:
    server = await scripted(_ok())
    client = PostClient(timeout=2, keep_per_origin=2)
    first = await client.post(server.url, b'[{"a":1}]', {"Content-Type": "application/json", "X-Test": "1"})
    second = await client.post(server.url, b"[]", {})
    await client.aclose()
    assert (first, second) == (200, 200)
    assert server.connections == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /cb?secret=s HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.url.split(':')[2].split('/')[0]}" in lines
    assert "Content-Type: application/json" in lines and "X-Test: 1" in lines and "Content-Length: 9" in lines
    assert body == b'[{"a":1}]'


async def test_a_connection_closed_while_idle_is_not_reused(scripted: Callable[..., Awaitable[Scripted]]) -> None:
    server = await scripted(_ok(extra="Connection: close\r\n"))
    client = PostClient(timeout=2, keep_per_origin=2)
    assert (await client.post(server.url, b"1", {})) == 200
    assert (await client.post(server.url, b"2", {})) == 200
    await client.aclose()
    assert server.connections == 2 and len(server.requests) == 2


async def test_a_connection_the_peer_closed_while_idle_is_not_reused(
    scripted: Callable[..., Awaitable[Scripted]],
) -> None:
    server = await scripted(_ok())
    server.close_after_reply = True  # keep-alive is advertised, then the server hangs up anyway
    client = PostClient(timeout=2, keep_per_origin=2)
    assert (await client.post(server.url, b"1", {})) == 200
    await asyncio.sleep(0.05)  # the FIN arrives while the connection waits in the pool
    assert (await client.post(server.url, b"2", {})) == 200
    await client.aclose()
    assert server.connections == 2 and len(server.requests) == 2  # nothing written into the dead one


async def test_chunked_and_close_delimited_bodies_are_read(scripted: Callable[..., Awaitable[Scripted]]) -> None:
    async def chunked(_: bytes) -> bytes:
        return b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n"

    server = await scripted(chunked)
    client = PostClient(timeout=2, keep_per_origin=2)
    assert (await client.post(server.url, b"1", {})) == 202
    assert (await client.post(server.url, b"2", {})) == 202
    assert server.connections == 1

    async def until_close(_: bytes) -> bytes | None:
        return b"HTTP/1.1 500 Oops\r\n\r\nno length"

    closing = await scripted(until_close)
    closing.close_after_reply = True  # the body ends with the connection
    assert await client.post(closing.url, b"1", {}) == 500
    assert await client.post(closing.url, b"2", {}) == 500
    assert closing.connections == 2  # a close-delimited answer leaves nothing to reuse

    open_ended = await scripted(until_close)
    # The server keeps its side open after writing; the client must not wait for more than the timeout.
    quick = PostClient(timeout=0.3, keep_per_origin=2)
    with pytest.raises(Timeout):
        await quick.post(open_ended.url, b"1", {})
    await quick.aclose()
    await client.aclose()


async def test_errors_are_named(scripted: Callable[..., Awaitable[Scripted]]) -> None:
    client = PostClient(timeout=0.3, keep_per_origin=1)
    with pytest.raises(ConnectError):
        await client.post("http://127.0.0.1:9/cb", b"1", {})
    with pytest.raises(InvalidURL):
        await client.post("ftp://127.0.0.1/cb", b"1", {})
    with pytest.raises(InvalidURL):
        await client.post("http://127.0.0.1:99999/cb", b"1", {})

    async def silent(_: bytes) -> bytes | None:
        await asyncio.sleep(5)
        return None

    with pytest.raises(Timeout):
        await client.post((await scripted(silent)).url, b"1", {})

    async def hang_up(_: bytes) -> bytes | None:
        return None

    with pytest.raises(RemoteProtocolError):
        await client.post((await scripted(hang_up)).url, b"1", {})

    async def garbage(_: bytes) -> bytes:
        return b"SMTP ready\r\n\r\n"

    with pytest.raises(RemoteProtocolError):
        await client.post((await scripted(garbage)).url, b"1", {})
    await client.aclose()


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_against_uvicorn_with_keep_alive_expiry(tls: bool, tmp_path: Path) -> None:
    """Real uvicorn: JSON and streamed answers, and its keep-alive timeout closing the idle connection."""

    async def echo(request: Request) -> Response:
        body = await request.body()
        if request.query_params.get("stream"):

            async def parts() -> AsyncIterator[bytes]:
                yield b"a"
                yield b"b"

            return StreamingResponse(parts(), status_code=201)
        return JSONResponse({"got": len(body)}, status_code=202)

    app = Starlette(routes=[Route("/cb", echo, methods=["POST"])])
    group = ServerGroup()
    if tls:
        files = write_self_signed(tmp_path)
        url = await group.start(app, ssl_certfile=str(files.cert), ssl_keyfile=str(files.key), keep_alive=1)
        client = PostClient(timeout=2, keep_per_origin=4, tls=ssl_context_for(str(files.cert)))
    else:
        url = await group.start(app, keep_alive=1)
        client = PostClient(timeout=2, keep_per_origin=4)
    try:
        assert (await client.post(f"{url}/cb", b"x" * 100, {"Content-Type": "application/json"})) == 202
        assert (await client.post(f"{url}/cb?stream=1", b"", {})) == 201
        await asyncio.sleep(1.5)  # past uvicorn's keep-alive timeout: it has closed our idle connection
        assert (await client.post(f"{url}/cb", b"y", {})) == 202
    finally:
        await client.aclose()
        await group.stop()
