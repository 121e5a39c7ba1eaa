"""POST /callbacks/acs: the callbackUri ACS posts its events to.

Order of work: authenticate, read the body (bounded), parse every element on its own, then
apply each one atomically. The answer is 2xx only once every accepted element is stored; it
lists the refused elements by index. If Redis is away the answer is 503, so ACS may retry.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from service import sequencer
from service.crashpoints import crash_point
from service.documents import Change, parse_operation_context
from service.errors import CallcueError, InvalidRequest, StoreUnavailable
from service.events import CallbackEvent, Refused, parse_request
from service.express import Express
from service.logs import bind
from service.metrics import RECEIVER_LATENCY, series
from service.model import OutcomeKind
from service.store import AsyncStore, Committed, Loaded
from service.web.auth import require_callback_secret
from service.web.body import read_body
from service.web.problems import answer
from service.web.state import AppState, app_state

UNMATCHED = "cc:unmatched"
UNMATCHED_KEEP = 1000
Clock = Callable[[], float]


async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """The callback route as a plain ASGI endpoint, answered before Starlette's middleware and router.

    Almost every request callcue serves is a callback, and the generic stack (error middleware,
    exception middleware, router, request/response wrapper, response object) is work it does not
    need (docs/PERFORMANCE.md, round 7). Errors are answered by the same handlers
    (``service.web.problems``) as on every route.
    """
    request = Request(scope, receive)
    try:
        report = await _report(request)
    except ClientDisconnect:
        return  # gone before its body arrived: nothing was applied, and nobody to answer
    except Exception as exc:
        response = await answer(request, exc)
        await response(scope, receive, send)
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(report)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": report})


async def handle(request: Request) -> Response:
    """The same, as a Starlette endpoint (the route table's; ``endpoint`` answers a POST first)."""
    return Response(await _report(request), media_type="application/json")


async def _report(request: Request) -> bytes:
    """Handle one callback request; the answer's body (JSON), or raises a CallcueError."""
    state = app_state(request)
    started = time.perf_counter()
    counts: Counter[str] = Counter()
    try:
        return await _handle(request, state, counts)
    except CallcueError as exc:
        counts[series("callcue_callbacks_refused", reason=exc.code)] += 1
        raise
    finally:
        RECEIVER_LATENCY.observe(time.perf_counter() - started)
        if counts:
            with contextlib.suppress(StoreUnavailable):  # metrics never decide the answer
                await state.store.add_metrics(counts)


async def _handle(request: Request, state: AppState, counts: Counter[str]) -> bytes:
    require_callback_secret(request, state.settings)
    if state.jwt is not None:
        await state.jwt.verify(request.headers.get("authorization", ""))
    body = await read_body(request, state.settings.max_body_bytes)
    items = parse_request(request.headers, body)
    report: dict[str, Any] = {"received": len(items), "applied": 0, "duplicates": 0, "recorded": 0, "refused": []}
    for item in items:
        if isinstance(item, Refused):
            report["refused"].append({"index": item.index, "error": item.error})
            counts[series("callcue_callbacks_refused", reason="malformed_event")] += 1
            continue
        with bind(callConnectionId=item.call_id, operationContext=item.operation_context):
            result = await ingest(state.store, state.express, item)
        report[result] += 1
        if result != "applied":  # an applied event was counted in its own atomic step
            counts[_counted(item, result)] += 1
    if len(report["refused"]) == len(items):
        raise InvalidRequest("no event in the body could be read", field="body", refused=report["refused"])
    return orjson.dumps(report)


def _counted(event: CallbackEvent, result: str) -> str:
    return _series(event.event_type, result)


@functools.lru_cache(maxsize=256)  # bounded: the event type is whatever the sender wrote
def _series(event_type: str, result: str) -> str:
    return series("callcue_callbacks", type=event_type.rsplit(".", 1)[-1], result=result)


def _applier(event: CallbackEvent, index: int, clock: Clock) -> Callable[[Loaded], Change | None]:
    """The transition for ``event`` on operation ``index`` of whatever sequence is loaded."""
    assert event.outcome is not None
    outcome = event.outcome
    jitter = random.random()  # drawn once: a retried transaction decides the same backoff

    def apply(loaded: Loaded) -> Change | None:
        if loaded.seq is None:
            return None
        change = sequencer.on_outcome(
            loaded.seq, loaded.call, loaded.related, index, outcome, clock(), jitter, event=event.raw
        )
        change.dedupe = event.dedupe_key
        change.counts[_counted(event, "applied")] += 1
        return change

    return apply


async def ingest(store: AsyncStore, express: Express | None, event: CallbackEvent, clock: Clock = time.time) -> str:
    """Apply one event; returns the report field it counts under. Without ``express``, always the ordinary path."""
    now = clock()
    parsed = parse_operation_context(event.operation_context) if event.operation_context else None
    if parsed is not None and event.outcome is not None:
        sid, index = parsed
        express_result = await express.complete(event, sid, index, now, _counted(event, "applied")) if express else None
        if express_result is not None:
            crash_point("web.after_commit")
            return express_result
        result, _, loaded = await store.transact(clock, _applier(event, index, clock), sid=sid)
        crash_point("web.after_commit")
        if loaded is not None and result is Committed.DUPLICATE:
            await store.append_event(event.operation_context or "", {"at": now, "duplicate": True, "event": event.raw})
            return "duplicates"
        if loaded is not None:
            return "applied"
    elif event.outcome is not None and event.outcome.kind is OutcomeKind.DISCONNECTED and event.call_id:
        if await _disconnected(store, event, clock):
            return "applied"
    await _record_unmatched(store, event, now)
    return "recorded"


async def _disconnected(store: AsyncStore, event: CallbackEvent, clock: Clock) -> bool:
    """CallDisconnected names the call, not an operation: it ends whatever the call is playing."""
    assert event.call_id is not None
    loaded = await store.load(call_id=event.call_id)
    if loaded is None or not loaded.call.sequences:
        return False
    active = next((s for s in loaded.related if s.id == loaded.call.active), None)
    if active is None or active.current is None:
        loaded.call.gone = True
        change = Change(call_id=loaded.call_id, call=loaded.call)
        change.timeline.append({"at": clock(), "kind": "callDisconnected"})
        change.counts[_counted(event, "applied")] += 1
        return await store.commit(change, clock()) is Committed.OK
    result, _, _ = await store.transact(clock, _applier(event, active.current, clock), sid=active.id)
    return result is not Committed.CONFLICT


async def _record_unmatched(store: AsyncStore, event: CallbackEvent, now: float) -> None:
    """Unknown operations and event types are acknowledged and kept for inspection, never refused."""
    record = json.dumps(
        {
            "at": now,
            "type": event.event_type,
            "operationContext": event.operation_context,
            "callConnectionId": event.call_id,
            "event": event.raw,
        },
        separators=(",", ":"),
    )
    await store.push_capped(UNMATCHED, record, UNMATCHED_KEEP)
