"""Test plumbing for the emulator: a signer, WAV files, and real loopback servers.

The signer is written here from acs-protocol.md §3.2, independently of the emulator's verifier and
of any service code, so that a shared mistake cannot make both sides agree.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import io
import json
import socket
import ssl
import time
import wave
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

ACCESS_KEY = base64.b64encode(b"emulator-test-key-0123456789abcd").decode()
WRONG_KEY = base64.b64encode(b"some-other-key-0123456789abcdefg").decode()
PREVIEW = "2021-08-30-preview"
GA = "2024-09-15"


# -- signing ----------------------------------------------------------------------------------


def hmac_headers(*, method: str, target: str, host: str, body: bytes, access_key: str, date: str) -> dict[str, str]:
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    string_to_sign = f"{method}\n{target}\n{date};{host};{content_hash}"
    signature = base64.b64encode(
        hmac.new(base64.b64decode(access_key), string_to_sign.encode(), hashlib.sha256).digest()
    ).decode()
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": content_hash,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
    }


def rfc1123(at: float | None = None) -> str:
    return formatdate(time.time() if at is None else at, usegmt=True)


class AcsClient:
    """Signed requests to the emulator's ACS routes, signed over the URL exactly as it goes out."""

    def __init__(self, base_url: str, access_key: str = ACCESS_KEY) -> None:
        self.base_url = base_url
        self.access_key = access_key
        self.http = httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=10)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        api_version: str | None = PREVIEW,
        access_key: str | None = None,
        date: str | None = None,
        tamper: Callable[[httpx.Request], None] | None = None,
        sign: bool = True,
    ) -> httpx.Response:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        params = {"api-version": api_version} if api_version is not None else None
        request = self.http.build_request(
            method, path, params=params, content=body, headers={"Content-Type": "application/json"}
        )
        if sign:
            request.headers.update(
                hmac_headers(
                    method=method,
                    target=request.url.raw_path.decode(),
                    host=request.headers["host"],
                    body=body,
                    access_key=access_key or self.access_key,
                    date=date or rfc1123(),
                )
            )
        if tamper is not None:
            tamper(request)
        return await self.http.send(request)

    # preview
    async def play_audio(self, call_id: str, **payload: Any) -> httpx.Response:
        return await self.request("POST", f"/calling/callConnections/{call_id}/:playAudio", payload)

    async def cancel_preview(self, call_id: str, operation_context: str = "cancel-op") -> httpx.Response:
        path = f"/calling/callConnections/{call_id}/:cancelAllMediaOperations"
        return await self.request("POST", path, {"operationContext": operation_context})

    async def hangup_preview(self, call_id: str) -> httpx.Response:
        return await self.request("POST", f"/calling/callConnections/{call_id}/:hangup")

    # GA
    async def play(
        self,
        call_id: str,
        uris: list[str],
        *,
        operation_context: str | None = None,
        callback: str | None = None,
        loop: bool = False,
        cache_id: str | None = None,
        interrupt: bool = False,
    ) -> httpx.Response:
        sources: list[dict[str, Any]] = [{"kind": "file", "file": {"uri": uri}} for uri in uris]
        if cache_id is not None:
            sources[0]["playSourceCacheId"] = cache_id
        payload: dict[str, Any] = {
            "playSources": sources,
            "playTo": [],
            "playOptions": {"loop": loop},
            "interruptCallMediaOperation": interrupt,
        }
        if operation_context is not None:
            payload["operationContext"] = operation_context
        if callback is not None:
            payload["operationCallbackUri"] = callback
        return await self.request("POST", f"/calling/callConnections/{call_id}:play", payload, api_version=GA)

    async def cancel(self, call_id: str) -> httpx.Response:
        path = f"/calling/callConnections/{call_id}:cancelAllMediaOperations"
        return await self.request("POST", path, {}, api_version=GA)

    async def hangup(self, call_id: str) -> httpx.Response:
        return await self.request("DELETE", f"/calling/callConnections/{call_id}", api_version=GA)


# -- audio ------------------------------------------------------------------------------------


def make_wav(seconds: float, *, rate: int = 16_000, channels: int = 1, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(b"\x00" * int(seconds * rate) * channels * width)
    return buffer.getvalue()


# -- servers ----------------------------------------------------------------------------------


class _TestServer(uvicorn.Server):
    """uvicorn's server, stopped by an event rather than by its 0.1 s ``should_exit`` poll.

    The suite starts and stops hundreds of servers; the poll alone would cost it seconds.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stop_requested = asyncio.Event()

    async def main_loop(self) -> None:
        await self.on_tick(0)  # sets the default response headers
        while not self.should_exit and not self.stop_requested.is_set():
            with contextlib.suppress(TimeoutError):  # still honour should_exit (Ctrl-C), now and then
                await asyncio.wait_for(self.stop_requested.wait(), 0.5)


class ServerGroup:
    """Real uvicorn servers on free loopback ports, stopped together.

    Stopping is concurrent because each uvicorn shutdown pauses 0.1 s after asking its connections
    to close.
    """

    def __init__(self) -> None:
        self._running: list[tuple[_TestServer, asyncio.Task[None], socket.socket]] = []

    async def start(
        self,
        app: ASGIApp,
        *,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        keep_alive: int = 5,
    ) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            ws="none",
            lifespan="auto",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
            timeout_keep_alive=keep_alive,
        )
        server = _TestServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        self._running.append((server, task, sock))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server exited before it started")
            await asyncio.sleep(0.005)
        scheme = "https" if ssl_certfile else "http"
        return f"{scheme}://127.0.0.1:{port}"

    async def stop(self) -> None:
        for server, _, _ in self._running:
            server.should_exit = True
            server.stop_requested.set()
        await asyncio.gather(*(task for _, task, _ in self._running))
        for _, _, sock in self._running:
            sock.close()
        self._running.clear()


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Run one app on a real server for the duration of the block."""
    group = ServerGroup()
    try:
        yield await group.start(app)
    finally:
        await group.stop()


@dataclass
class Received:
    at: float
    path: str
    query: str
    headers: dict[str, str]
    events: list[dict[str, Any]]

    @property
    def event(self) -> dict[str, Any]:
        assert len(self.events) == 1, self.events
        return self.events[0]

    @property
    def type(self) -> str:
        return str(self.event["type"]).removeprefix("Microsoft.Communication.")


@dataclass
class CallbackReceiver:
    """Records every callback; answers with queued statuses (then 200)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def app(self) -> Starlette:
        async def callback(request: Request) -> Response:
            body = await request.body()
            parsed = json.loads(body)
            assert isinstance(parsed, list), "ACS posts a JSON array of CloudEvents"
            entry = Received(time.time(), request.url.path, request.url.query, dict(request.headers), parsed)
            async with self._changed:
                self.received.append(entry)
                self._changed.notify_all()
            return Response(status_code=self.statuses.popleft() if self.statuses else 200)

        return Starlette(routes=[Route("/{path:path}", callback, methods=["POST"])])

    def for_context(self, operation_context: str) -> list[Received]:
        return [r for r in self.received if r.event["data"].get("operationContext") == operation_context]

    async def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 10.0) -> list[Received]:
        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.received))

        await asyncio.wait_for(_wait(), timeout)
        return list(self.received)

    async def wait_count(self, count: int, timeout: float = 10.0) -> list[Received]:
        return await self.wait_for(lambda received: len(received) >= count, timeout)

    async def settle(self, seconds: float = 0.3) -> list[Received]:
        """Wait a little and return everything: for asserting that nothing (more) arrived."""
        await asyncio.sleep(seconds)
        return list(self.received)


@dataclass
class AudioServer:
    """Serves WAV bytes by path; anything else is a 404."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def app(self) -> Starlette:
        async def audio(request: Request) -> Response:
            path = request.url.path
            self.hits[path] = self.hits.get(path, 0) + 1
            if path not in self.files:
                return Response(status_code=404)
            return Response(self.files[path], media_type="audio/wav")

        return Starlette(routes=[Route("/{path:path}", audio, methods=["GET"])])

    def add(self, name: str, data: bytes) -> str:
        self.files["/" + name] = data
        return f"{self.url}/{name}"


def ssl_context_for(cert_path: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cert_path)
