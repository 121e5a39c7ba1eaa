"""The web server's protocol: a response leaves in one write, and nothing written is lost or reordered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from service.embedded_redis import free_port
from service.web.server import HttpProtocol, TurnBufferedTransport


class Recording(asyncio.Transport):
    """Stands for the socket: what was written, in how many writes, and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


async def next_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_writes_of_one_turn_leave_together_in_order() -> None:
    raw = Recording()
    transport = TurnBufferedTransport(raw, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"")  # nothing to send: no write
    transport.writelines([b"o", memoryview(b"k")])
    assert raw.writes == []
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
    await next_turn()
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    transport.write(b"next")
    await next_turn()
    assert raw.writes[1:] == [b"next"]


async def test_close_sends_what_is_held_first() -> None:
    raw = Recording()
    transport = TurnBufferedTransport(raw, asyncio.get_running_loop())
    transport.write(b"last words")
    transport.close()
    assert raw.writes == [b"last words"] and raw.closed
    await next_turn()  # the scheduled flush finds nothing left, and writes nothing to a closed socket
    assert raw.writes == [b"last words"]


async def test_abort_drops_what_is_held() -> None:
    raw = Recording()
    transport = TurnBufferedTransport(raw, asyncio.get_running_loop())
    transport.write(b"never sent")
    transport.abort()
    await next_turn()
    assert raw.writes == [] and raw.aborted


async def streamed(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with a body in three parts, or with one part if the path says so."""
    if scope["type"] != "http":
        return
    parts = [b"one"] if scope["path"] == "/one" else [b"one,", b"two,", b"three"]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for i, part in enumerate(parts):
        await send({"type": "http.response.body", "body": part, "more_body": i < len(parts) - 1})


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[int, list[int]]]:
    """uvicorn with callcue's protocol in this loop; yields its port and the size of each socket write."""
    sizes: list[int] = []
    flush = TurnBufferedTransport.flush

    def counted(self: TurnBufferedTransport) -> None:
        sizes.append(sum(len(data) for data in self._held))
        flush(self)

    monkeypatch.setattr(TurnBufferedTransport, "flush", counted)
    port = free_port()
    config = uvicorn.Config(
        streamed, host="127.0.0.1", port=port, http=HttpProtocol, log_level="warning", lifespan="off"
    )
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())
    while not instance.started:
        await asyncio.sleep(0.01)
    try:
        yield port, sizes
    finally:
        instance.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    if b"content-length:" in head:
        length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
        return head, await reader.readexactly(length)
    body = b""
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return head, body
        body += chunk[:-2]


async def test_a_response_is_one_write_on_a_real_server(server: tuple[int, list[int]]) -> None:
    port, sizes = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(2):  # keep-alive: the same connection answers again
            writer.write(b"GET /one HTTP/1.1\r\nhost: x\r\n\r\n")
            head, body = await read_response(reader)
            assert head.startswith(b"HTTP/1.1 200 OK") and body == b"one"
        assert len(sizes) == 2  # head and body of each response: one write each time
    finally:
        writer.close()


async def test_a_streamed_body_arrives_whole_and_in_order(server: tuple[int, list[int]]) -> None:
    port, _ = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
        _, body = await read_response(reader)
        assert body == b"one,two,three"
    finally:
        writer.close()


async def test_connection_close_gets_the_whole_answer_first(server: tuple[int, list[int]]) -> None:
    port, _ = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /one HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    answer: Any = await asyncio.wait_for(reader.read(), 5)  # until the server closes
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\n3\r\none\r\n0\r\n\r\n")  # chunked
