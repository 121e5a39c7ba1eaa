"""The callback receiver in-process against real Redis: batches, bad elements, unknown operations."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import redis

from service.settings import Settings
from service.store import OUTBOX
from service.web import callbacks
from service.web.app import create_app
from tests.conftest import CALLBACK_SECRET

CALL = "call-cb-1"
CALLBACK = f"/callbacks/acs?secret={CALLBACK_SECRET}"


def play_result(ctx: str, code: int = 200, subcode: int = 0, status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "id": extra.pop("id", f"ev-{ctx}-{code}-{subcode}"),
        "source": f"calling/callConnections/{CALL}",
        "type": "Microsoft.Communication.PlayAudioResult",
        "specversion": "1.0",
        "time": "2021-09-07T10:00:05.123Z",
        "datacontenttype": "application/json",
        "data": {
            "resultInfo": {"code": code, "subcode": subcode, "message": "m"},
            "operationContext": ctx,
            "status": status,
            **extra,
        },
    }


async def start(api: httpx.AsyncClient, call: str = CALL, **plan: Any) -> str:
    body = {"prompts": [{"audioFileUri": "http://127.0.0.1:9/a.wav", "repeat": 2}], **plan}
    answer = await api.post(f"/v1/calls/{call}/sequences", json=body)
    assert answer.status_code == 202, answer.text
    sid: str = answer.json()["sequenceId"]
    return sid


async def test_batch_with_a_malformed_element_applies_the_others(
    api: httpx.AsyncClient, sync_redis: redis.Redis
) -> None:
    sid_a = await start(api, "call-a")
    sid_b = await start(api, "call-b")
    batch = [
        play_result(f"{sid_a}.0"),
        {"type": "Microsoft.Communication.PlayAudioResult", "specversion": "1.0"},
        play_result(f"{sid_b}.0", 400, 8535, "failed"),
    ]
    answer = await api.post(CALLBACK, content=json.dumps(batch))
    assert answer.status_code == 200
    report = answer.json()
    assert report["applied"] == 2 and report["received"] == 3
    assert [r["index"] for r in report["refused"]] == [1]
    assert "CloudEvent" in report["refused"][0]["error"] or "needs" in report["refused"][0]["error"]
    a = (await api.get(f"/v1/sequences/{sid_a}")).json()
    b = (await api.get(f"/v1/sequences/{sid_b}")).json()
    assert a["status"] == "running" and a["steps"][0]["operations"][0]["status"] == "completed"
    assert a["current"]["repeat"] == 1  # the second play of the prompt is scheduled
    assert b["status"] == "failed" and b["steps"][0]["operations"][0]["resultInfo"]["subcode"] == 8535
    assert sync_redis.zscore(OUTBOX, f"play:{sid_a}.1") is not None


async def test_only_bad_elements_is_a_400_and_changes_nothing(api: httpx.AsyncClient) -> None:
    sid = await start(api)
    before = (await api.get(f"/v1/sequences/{sid}")).json()
    answer = await api.post(CALLBACK, content=json.dumps([{"type": 5}, "x"]))
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["code"] == "invalid_request" and len(problem["refused"]) == 2
    assert (await api.get(f"/v1/sequences/{sid}")).json() == before


async def test_unknown_operation_is_acknowledged_recorded_and_does_nothing(
    api: httpx.AsyncClient, sync_redis: redis.Redis
) -> None:
    outbox_before = sync_redis.zcard(OUTBOX)
    for ctx in ("sq_00000000000000000000.0", "someone-else's-context"):
        answer = await api.post(CALLBACK, content=json.dumps([play_result(ctx)]))
        assert answer.status_code == 200 and answer.json()["recorded"] == 1
    unmatched = (await api.get("/v1/unmatched-events")).json()["events"]
    assert {e["operationContext"] for e in unmatched} == {"sq_00000000000000000000.0", "someone-else's-context"}
    assert sync_redis.zcard(OUTBOX) == outbox_before


async def test_duplicates_are_recorded_once_applied(api: httpx.AsyncClient) -> None:
    sid = await start(api)
    event = play_result(f"{sid}.0")
    first = await api.post(CALLBACK, content=json.dumps([event, event]))
    assert first.json()["applied"] == 1 and first.json()["duplicates"] == 1
    again = await api.post(CALLBACK, content=json.dumps([dict(event, id="a-new-id")]))
    assert again.json()["duplicates"] == 1
    seq = (await api.get(f"/v1/sequences/{sid}")).json()
    assert len(seq["steps"][0]["operations"]) == 2  # one completed, one scheduled: nothing played twice
    op = (await api.get(f"/v1/operations/{sid}.0")).json()
    assert len(op["events"]) == 3 and sum(1 for e in op["events"] if e.get("duplicate")) == 2
    # Stored with its raw event only; the outcome shown is parsed from it again.
    applied = op["events"][0]
    assert applied["event"] == event and (applied["outcome"]["kind"], applied["outcome"]["code"]) == ("completed", 200)


async def test_callback_secret_is_required(api: httpx.AsyncClient) -> None:
    sid = await start(api)
    for url in ("/callbacks/acs", "/callbacks/acs?secret=wrong"):
        answer = await api.post(url, content=json.dumps([play_result(f"{sid}.0")]))
        assert answer.status_code == 401
        assert answer.json()["code"] == "unauthenticated"
    seq = (await api.get(f"/v1/sequences/{sid}")).json()
    assert seq["steps"][0]["operations"][0]["status"] == "notStarted"


async def test_not_json_is_a_clear_400(api: httpx.AsyncClient) -> None:
    answer = await api.post(CALLBACK, content=b"{nope")
    assert answer.status_code == 400 and "not JSON" in answer.json()["detail"]


async def test_oversized_body_is_413(api: httpx.AsyncClient) -> None:
    answer = await api.post(CALLBACK, content=b"[" + b" " * 2_000_000 + b"]")
    assert answer.status_code == 413 and answer.json()["code"] == "payload_too_large"


async def test_callbacks_are_answered_ahead_of_the_router_as_any_route_would(
    api: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The route table's endpoint must not be reached by a POST: CallcueApp answers it first.
    async def not_here(request: object) -> None:
        raise AssertionError("the router served a callback")

    monkeypatch.setattr(callbacks, "handle", not_here)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, root_path="/cc")  # mounted below a prefix, too
        async with httpx.AsyncClient(transport=transport, base_url="http://callcue.test") as client:
            answer = await client.post(f"/cc{CALLBACK}", content=json.dumps([play_result("sq_unknown.0")]))
            assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
            assert answer.json() == {"received": 1, "applied": 0, "duplicates": 0, "recorded": 1, "refused": []}
            assert int(answer.headers["content-length"]) == len(answer.content)

            refused = await client.post("/cc/callbacks/acs?secret=wrong", content=b"[]")
            assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
            assert refused.headers["www-authenticate"].startswith("Bearer")

    # Other methods still meet the router: 405 with Allow, as problem details.
    answer = await api.get(CALLBACK)
    assert answer.status_code == 405 and answer.json()["code"] == "method_not_allowed"
    assert answer.headers["allow"] == "POST"


async def test_an_unexpected_error_on_a_callback_is_a_logged_500(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(callbacks, "parse_request", broken)
    answer = await api.post(CALLBACK, content=json.dumps([play_result("sq_unknown.0")]))
    assert answer.status_code == 500 and answer.json()["code"] == "internal"
    assert "parser bug" not in answer.text  # logged, never shown
    assert any(r.exc_info and "parser bug" in str(r.exc_info[1]) for r in caplog.records)


async def test_a_client_gone_before_its_body_gets_no_answer_and_changes_nothing(
    settings: Settings, sync_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)
    sent: list[object] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: object) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/callbacks/acs",
        "root_path": "",
        "query_string": f"secret={CALLBACK_SECRET}".encode(),
        "headers": [(b"content-type", b"application/json")],
    }
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
    assert sent == [] and not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert sync_redis.dbsize() == 0
