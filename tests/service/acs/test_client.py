"""The ACS client's request shapes, answer handling and connections, against a real local HTTP
server (the full exchange with the ACS emulator is tested end to end)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from service.acs.client import AcsClient
from service.settings import AcsConnection

KEY = "MDEyMzQ1Njc4OWFiY2RlZg=="


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int]


@dataclass
class FakeAcs:
    """Answers every request with ``answer`` (status, headers, body); records what it received."""

    answer: tuple[int, dict[str, str], bytes] = (202, {}, b'{"operationId":"op-1"}')
    delay: float = 0.0
    close_after_answer: bool = False
    seen: list[Seen] = field(default_factory=list)


@pytest.fixture
def acs() -> Iterator[tuple[FakeAcs, str]]:
    fake = FakeAcs()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as ACS speaks

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake.seen.append(Seen(self.command, self.path, headers, body, self.client_address))
            time.sleep(fake.delay)
            status, headers, payload = fake.answer
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(payload))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
            if fake.close_after_answer:
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


_open: list[AcsClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def client(endpoint: str, version: str = "2024-09-15", token: str | None = None, timeout: float = 5) -> AcsClient:
    made = AcsClient(
        AcsConnection(endpoint=endpoint, access_key=KEY),
        version,
        timeout,
        token_provider=(lambda: token) if token else None,
    )
    _open.append(made)
    return made


def play(acs: AcsClient) -> Any:
    return acs.play(
        "c1",
        audio_uri="https://a/b.wav",
        audio_file_id="id",
        loop=True,
        operation_context="x",
        callback_uri="https://cb",
        now=0,
    )


def test_entra_tokens_replace_hmac(acs: tuple[FakeAcs, str]) -> None:
    fake, url = acs
    result = play(client(url, token="entra-token"))
    assert result.accepted and result.operation_id == "op-1"
    seen = fake.seen[0]
    assert seen.headers["authorization"] == "Bearer entra-token" and "x-ms-date" not in seen.headers
    assert seen.path == "/calling/callConnections/c1:play?api-version=2024-09-15"
    assert json.loads(seen.body)["playSources"][0]["file"]["uri"] == "https://a/b.wav"


def test_hmac_signs_the_request_it_sends(acs: tuple[FakeAcs, str]) -> None:
    fake, url = acs
    assert play(client(url, "2021-08-30-preview")).accepted
    seen = fake.seen[0]
    assert seen.path == "/calling/callConnections/c1/:playAudio?api-version=2021-08-30-preview"
    assert seen.headers["authorization"].startswith("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256")
    assert seen.headers["content-type"] == "application/json" and json.loads(seen.body)["audioFileId"] == "id"


def test_retry_after_and_error_messages_are_read(acs: tuple[FakeAcs, str]) -> None:
    fake, url = acs
    fake.answer = (429, {"Retry-After": "7"}, json.dumps({"error": {"code": "429", "message": "slow down"}}).encode())
    result = play(client(url, "2021-08-30-preview"))
    assert (result.status, result.retry_after, result.error) == (429, 7.0, "429: slow down")


def test_one_connection_is_kept_and_a_closed_one_replaced(acs: tuple[FakeAcs, str]) -> None:
    fake, url = acs
    acs_client = client(url)
    assert play(acs_client).accepted and play(acs_client).accepted
    assert fake.seen[0].peer == fake.seen[1].peer  # kept alive
    fake.close_after_answer = True
    assert play(acs_client).accepted
    time.sleep(0.1)  # the server has closed it while it was idle
    assert play(acs_client).accepted  # a fresh connection, not an error
    assert len(fake.seen) == 4 and fake.seen[3].peer != fake.seen[2].peer


def test_no_answer_is_status_zero(acs: tuple[FakeAcs, str]) -> None:
    fake, url = acs
    refused = client("http://127.0.0.1:9").cancel_all("c1", operation_context="x", now=0)
    assert refused.status == 0 and "ConnectionRefusedError" in refused.error
    fake.delay = 0.5
    timed_out = client(url, timeout=0.1).cancel_all("c1", operation_context="x", now=0)
    assert timed_out.status == 0 and "timed out" in timed_out.error
