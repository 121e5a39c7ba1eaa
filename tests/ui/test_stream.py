"""The timeline stream (GET /ui/calls/{id}/events) over real HTTP, against real Redis.

No worker runs here: the entries come from the API itself (a new sequence writes two, a cancel
two more), which is enough to see entries streamed as they are appended.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from service.ui import stream
from tests.conftest import API_KEY
from tests.ui.sse import Event, events

CALL = "ui-stream-1"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


async def start(api: httpx.AsyncClient, call: str = CALL) -> str:
    answer = await api.post(
        f"/v1/calls/{call}/sequences", json={"prompts": [{"audioFileUri": "http://127.0.0.1:9/a.wav"}]}
    )
    assert answer.status_code == 202, answer.text
    sid: str = answer.json()["sequenceId"]
    return sid


async def take(source: AsyncIterator[Event], n: int, timeout: float = 5.0) -> list[Event]:
    async def collect() -> list[Event]:
        return [await anext(source) for _ in range(n)]

    return await asyncio.wait_for(collect(), timeout)


async def closed_streams(timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while stream.open_streams() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    assert stream.open_streams() == 0, "the server still holds a stream the client has left"


async def test_entries_are_streamed_as_they_are_appended(api: httpx.AsyncClient, server_url: str) -> None:
    sid = await start(api)
    async with (
        httpx.AsyncClient(base_url=server_url, headers=AUTH, timeout=10) as client,
        client.stream("GET", f"/ui/calls/{CALL}/events") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        source = events(response.aiter_lines())
        hello, created, scheduled = await take(source, 3)
        assert (hello.name, hello.json()) == ("hello", {"callConnectionId": CALL, "from": 0})
        assert [(e.name, e.id, e.json()["kind"]) for e in (created, scheduled)] == [
            ("entry", "0", "sequenceCreated"), ("entry", "1", "playScheduled")]  # fmt: skip
        assert created.json()["sequenceId"] == sid
        # The stream is open and idle; a cancel appends two entries, and they arrive on it.
        assert (await api.post(f"/v1/sequences/{sid}/cancel")).status_code == 202
        requested, ended = await take(source, 2)
        assert [(e.id, e.json()["kind"]) for e in (requested, ended)] == [
            ("2", "cancelRequested"),
            ("3", "sequenceEnded"),
        ]
        assert ended.json()["status"] == "canceled"
        timeline = (await api.get(f"/v1/calls/{CALL}")).json()["timeline"]
        assert [e.json() for e in (created, scheduled, requested, ended)] == timeline
    await closed_streams()  # the client went away: the server's generator ended with it


async def test_a_reconnect_resumes_after_last_event_id(api: httpx.AsyncClient, server_url: str) -> None:
    sid = await start(api)
    await api.post(f"/v1/sequences/{sid}/cancel")
    headers = {**AUTH, "Last-Event-ID": "1"}
    async with (
        httpx.AsyncClient(base_url=server_url, headers=headers, timeout=10) as client,
        client.stream("GET", f"/ui/calls/{CALL}/events") as response,
    ):
        hello, first = await take(events(response.aiter_lines()), 2)
        assert hello.json()["from"] == 2
        assert (first.id, first.json()["kind"]) == ("2", "cancelRequested")
    await closed_streams()


async def test_a_stream_ends_after_its_lifetime(
    api: httpx.AsyncClient, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "LIFETIME_SECONDS", 0.5)
    await start(api)
    async with httpx.AsyncClient(base_url=server_url, headers=AUTH, timeout=10) as client:
        response = await client.get(f"/ui/calls/{CALL}/events")  # returns only because the stream ends
    received = [e async for e in events(_lines(response.text))]
    assert [e.name for e in received] == ["hello", "entry", "entry", "bye"]
    assert received[-1].json() == {"next": 2}  # where a reconnect picks up


async def _lines(text: str) -> AsyncIterator[str]:
    for line in text.split("\n"):
        yield line


async def test_the_stream_needs_a_key(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as client:
        refused = await client.get(f"/ui/calls/{CALL}/events")
        wrong = await client.get(f"/ui/calls/{CALL}/events", params={"key": "nope"})
    assert refused.status_code == 401 and refused.json()["code"] == "unauthenticated"
    assert wrong.status_code == 401


async def test_too_many_open_streams_is_a_503(server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "MAX_OPEN_STREAMS", 0)
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as client:
        busy = await client.get(f"/ui/calls/{CALL}/events", params={"key": API_KEY})
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert busy.json()["code"] == "too_many_streams"


def test_resume_from() -> None:
    assert stream.resume_from("41", None) == 42
    assert stream.resume_from(None, "7") == 7
    assert stream.resume_from("x", "y") == 0
