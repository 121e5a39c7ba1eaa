"""The ACS client's request shapes and answer handling (an httpx MockTransport stands in for ACS;
the real exchange with the emulator is tested end to end)."""

from __future__ import annotations

import json

import httpx

from service.acs.client import AcsClient
from service.settings import AcsConnection

CONNECTION = AcsConnection(endpoint="https://acs.example", access_key="MDEyMzQ1Njc4OWFiY2RlZg==")


def client(handler: httpx.MockTransport, version: str = "2024-09-15", token: str | None = None) -> AcsClient:
    return AcsClient(CONNECTION, version, 5, transport=handler, token_provider=(lambda: token) if token else None)


def test_entra_tokens_replace_hmac() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    acs = client(httpx.MockTransport(answer), token="entra-token")
    result = acs.play(
        "c1",
        audio_uri="https://a/b.wav",
        audio_file_id=None,
        loop=False,
        operation_context="x",
        callback_uri="https://cb",
        now=0,
    )
    assert result.accepted
    assert seen[0].headers["authorization"] == "Bearer entra-token" and "x-ms-date" not in seen[0].headers
    assert str(seen[0].url) == "https://acs.example/calling/callConnections/c1:play?api-version=2024-09-15"
    assert json.loads(seen[0].content)["playSources"][0]["file"]["uri"] == "https://a/b.wav"


def test_retry_after_and_error_messages_are_read() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "429", "message": "slow down"}}
        return httpx.Response(429, json=body, headers={"Retry-After": "7"})

    result = client(httpx.MockTransport(answer), "2021-08-30-preview").play(
        "c1",
        audio_uri="https://a/b.wav",
        audio_file_id="id",
        loop=True,
        operation_context="x",
        callback_uri="https://cb",
        now=0,
    )
    assert (result.status, result.retry_after, result.error) == (429, 7.0, "429: slow down")


def test_no_answer_is_status_zero() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    result = client(httpx.MockTransport(answer)).cancel_all("c1", operation_context="x", now=0)
    assert result.status == 0 and "ConnectError" in result.error
