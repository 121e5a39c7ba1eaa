"""The express lane against the ordinary path, in real Redis: two identical sequences on two calls get
the same callbacks at the same times, one through the receiver's ``ingest`` with the express lane,
the other without it; after every callback both leave the same state. Where the lane declines,
it must have written nothing."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from service import sequencer
from service.documents import operation_context
from service.events import CallbackEvent, parse_element
from service.express import Express
from service.metrics import METRICS_KEY, series
from service.model import Plan, SeqStatus
from service.store import (
    CALLS,
    OUTBOX,
    WAKE,
    WATCH,
    AsyncStore,
    Committed,
    as_text,
    call_key,
    events_key,
    seen_key,
    seq_key,
    timeline_key,
)
from service.web.callbacks import ingest

T0 = 1_764_000_000.0
APPLIED = series("callcue_callbacks", type="PlayAudioResult", result="applied")
WAV = "https://media.example/a.wav"
A = ("sq_" + "a" * 20, "call-express-a")
B = ("sq_" + "b" * 20, "call-express-b")


class Spy(Express):
    """The express lane, recording what it answered and checking that a refusal wrote nothing."""

    def __init__(self, store: AsyncStore, state: Callable[[], str]) -> None:
        super().__init__(store)
        self.state = state
        self.answers: list[str | None] = []

    async def complete(self, event: CallbackEvent, sid: str, index: int, now: float, metric: str) -> str | None:
        before = self.state()
        answer = await super().complete(event, sid, index, now, metric)
        if answer is None:
            assert self.state() == before, "the express lane declined but wrote something"
        self.answers.append(answer)
        return answer


def completion(call_id: str, ctx: str, n: int, code: int = 200) -> CallbackEvent:
    element = {
        "id": f"event-{n}",
        "source": f"calling/callConnections/{call_id}",
        "type": "Microsoft.Communication.PlayAudioResult",
        "specversion": "1.0",
        "time": "2026-11-24T10:00:05.123Z",
        "datacontenttype": "application/json",
        "data": {
            "resultInfo": {"code": code, "subcode": 0, "message": "Action completed successfully."},
            "operationContext": ctx,
            "status": "completed",
        },
    }
    parsed = parse_element(0, element)
    assert isinstance(parsed, CallbackEvent)
    return parsed


def snapshot(r: redis.Redis, sid: str, call_id: str) -> str:
    """Everything callcue keeps for one sequence and its call, with the ids replaced."""

    def text(value: Any) -> Any:
        return as_text(value) if isinstance(value, bytes) else value

    # Numbers are read as floats: Lua's cjson writes 5.0 as 5, and both are the same number to every reader.
    def parsed_hash(key: str) -> dict[str, Any]:
        raw = {text(k): text(v) for k, v in r.hgetall(key).items()}
        return {**raw, "d": json.loads(raw["d"], parse_int=float)} if "d" in raw else raw

    def scored(key: str) -> list[list[Any]]:
        rows: Any = r.zrange(key, 0, -1, withscores=True)  # (member, score) pairs
        return [[text(m), score] for m, score in rows if sid in text(m)]

    keys = [seq_key(sid), call_key(call_id), timeline_key(call_id), events_key(sid), seen_key(call_id)]
    state = {
        "seq": parsed_hash(seq_key(sid)),
        "call": parsed_hash(call_key(call_id)),
        "timeline": [json.loads(x, parse_int=float) for x in r.lrange(timeline_key(call_id), 0, -1)],
        "events": [json.loads(x, parse_int=float) for x in r.lrange(events_key(sid), 0, -1)],
        "outbox": scored(OUTBOX),
        "watch": scored(WATCH),
        "calls": r.zscore(CALLS, call_id),
        "seen": r.scard(seen_key(call_id)),
        "expiring": [0 < r.ttl(k) <= 3600 for k in keys if r.exists(k)],
    }
    return json.dumps(state, sort_keys=True).replace(sid, "SID").replace(call_id, "CALL")


async def metrics_delta(r: redis.Redis, action: Awaitable[Any]) -> dict[str, float]:
    before = {k: float(v) for k, v in r.hgetall(METRICS_KEY).items()}
    await action
    after = {k: float(v) for k, v in r.hgetall(METRICS_KEY).items()}
    return {as_text(k): v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def fixed(at: float) -> Callable[[], float]:
    return lambda: at


async def create(store: AsyncStore, sid: str, call_id: str, plan: Plan) -> None:
    loaded = await store.load(call_id=call_id)
    assert loaded is not None
    _, change = sequencer.create(loaded.call, loaded.related, call_id, sid, plan, T0)
    assert await store.commit(change, T0) is Committed.OK


async def play_requested(store: AsyncStore, sid: str, index: int, at: float) -> None:
    """What the worker's ledger writes around the play request (the op becomes running, watched)."""

    def started(loaded: Any) -> Any:
        return sequencer.on_request_started(
            loaded.seq, index, at, timeout=10, max_play=600, grace=5, expected=2.4999773242630385
        )

    def accepted(loaded: Any) -> Any:
        return sequencer.on_request_accepted(loaded.seq, index, at + 0.05, "acs-op", max_play=600, grace=5)

    for fn in (started, accepted):
        result, _, _ = await store.transact(lambda: at, fn, sid=sid)
        assert result is Committed.OK


PLANS: dict[str, tuple[dict[str, Any], int]] = {
    # plan, how many of its completions the express lane takes (all but the last, unless a deadline ends it)
    "repeats then a prompt": ({"prompts": [{"audioFileUri": WAV, "repeat": 2}, {"audioFileUri": WAV}]}, 2),
    "pauses, ids, far deadline": (
        {
            "prompts": [
                {"audioFileUri": WAV, "repeat": 3, "pauseAfterMs": 1500, "audioFileId": "a"},
                {"audioFileUri": WAV, "pauseAfterMs": 250},
                {"audioFileUri": WAV, "repeat": 2},
            ],
            "deadlineSeconds": 3600,
        },
        5,
    ),
    "one play": ({"prompts": [{"audioFileUri": WAV}]}, 0),
    "deadline before the next play": (
        {"prompts": [{"audioFileUri": WAV, "pauseAfterMs": 2000}, {"audioFileUri": WAV}], "deadlineSeconds": 3},
        0,
    ),
}


@pytest.mark.parametrize("name", list(PLANS))
async def test_express_leaves_what_the_ordinary_path_leaves(
    async_store: AsyncStore, sync_redis: redis.Redis, name: str
) -> None:
    plan_json, expected_taken = PLANS[name]
    plan = Plan.from_json(plan_json)
    for sid, call_id in (A, B):
        await create(async_store, sid, call_id, plan)
    spy = Spy(async_store, lambda: snapshot(sync_redis, *A))
    now = T0
    taken = 0
    for index in range(32):
        loaded = await async_store.load(sid=A[0])
        assert loaded is not None and loaded.seq is not None
        if loaded.seq.status is not SeqStatus.RUNNING:
            break
        if index % 2:  # odd plays went through the ledger first: running, watched, a duration known
            for sid, _ in (A, B):
                await play_requested(async_store, sid, index, now + 0.01)
        now += 2.5
        clock = fixed(now)  # the callbacks below all happen at this time

        deltas = []
        for (sid, call_id), express in ((A, spy), (B, None)):
            event = completion(call_id, operation_context(sid, index), index)
            sync_redis.delete(WAKE)
            deltas.append(await metrics_delta(sync_redis, ingest(async_store, express, event, clock)))
            still_running = b'"status":"running"' in (sync_redis.hget(seq_key(sid), "d") or b"")
            assert sync_redis.llen(WAKE) == (1 if still_running else 0)  # the pump is nudged for the next play
        assert deltas[0] == deltas[1]
        assert deltas[0][APPLIED] == 1
        assert snapshot(sync_redis, *A) == snapshot(sync_redis, *B)

        # The same callback again: the lane keeps the copy, as the ordinary path does. News of an
        # operation that is over: the lane declines, the ordinary path records it, changing nothing.
        taken += spy.answers == ["applied"]
        spy.answers.clear()
        for (sid, call_id), express in ((A, spy), (B, None)):
            again = completion(call_id, operation_context(sid, index), index)
            assert await ingest(async_store, express, again, clock) == "duplicates"
            if index:
                stale = completion(call_id, operation_context(sid, index - 1), index, code=201)
                assert await ingest(async_store, express, stale, clock) == "applied"
        assert spy.answers == (["duplicates", None] if index else ["duplicates"])
        spy.answers.clear()
        assert snapshot(sync_redis, *A) == snapshot(sync_redis, *B)
    assert taken == expected_taken
