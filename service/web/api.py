"""The control and status API: start and cancel sequences, and see where everything stands."""

from __future__ import annotations

import json
import re
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import sequencer
from service.documents import Change, SequenceDoc, new_sequence_id, parse_operation_context
from service.errors import InvalidRequest, NotFound
from service.model import Plan
from service.store import AsyncStore, Loaded, events_key, timeline_key
from service.web import views
from service.web.auth import require_api_key
from service.web.body import read_json
from service.web.callbacks import UNMATCHED
from service.web.state import app_state

# ACS ids are GUIDs or base64-ish strings; anything else in a path is a mistake, or worse.
_CALL_ID = re.compile(r"[A-Za-z0-9._:~+=@-]{1,256}")
_SEQUENCE_ID = re.compile(r"sq_[0-9a-f]{20}")


def _call_id(request: Request) -> str:
    value: str = request.path_params["call_id"]
    if not _CALL_ID.fullmatch(value):
        raise InvalidRequest(
            "callConnectionId has characters or a length that no ACS call id has", field="callConnectionId"
        )
    return value


def _sequence_id(request: Request) -> str:
    value: str = request.path_params["sequence_id"]
    if not _SEQUENCE_ID.fullmatch(value):
        raise NotFound(f"no sequence {value!r}")
    return value


async def _load_sequence(store: AsyncStore, sid: str) -> SequenceDoc:
    loaded = await store.load(sid)
    if loaded is None or loaded.seq is None:
        raise NotFound(f"no sequence {sid!r}")
    return loaded.seq


async def start_sequence(request: Request) -> Response:
    state = app_state(request)
    require_api_key(request, state.settings, write=True)
    call_id = _call_id(request)
    plan = Plan.from_json(await read_json(request, state.settings.max_body_bytes), state.settings.audio_hosts)
    sid = new_sequence_id()
    now = time.time()

    def create(loaded: Loaded) -> Change:
        _, change = sequencer.create(loaded.call, loaded.related, call_id, sid, plan, now)
        return change

    await state.store.transact(time.time, create, call_id=call_id)
    seq = await _load_sequence(state.store, sid)
    url = f"/v1/sequences/{sid}"
    body = {"sequenceId": sid, "callConnectionId": call_id, "status": str(seq.status), "statusUrl": url}
    return JSONResponse(body, status_code=202, headers={"Location": url})


async def get_sequence(request: Request) -> Response:
    state = app_state(request)
    require_api_key(request, state.settings)
    seq = await _load_sequence(state.store, _sequence_id(request))
    return JSONResponse(views.sequence(seq))


async def cancel_sequence(request: Request) -> Response:
    state = app_state(request)
    require_api_key(request, state.settings, write=True)
    sid = _sequence_id(request)

    def cancel(loaded: Loaded) -> Change | None:
        if loaded.seq is None:
            return None
        return sequencer.cancel(loaded.seq, loaded.call, loaded.related, time.time())

    _, change, loaded = await state.store.transact(time.time, cancel, sid=sid)
    if loaded is None:
        raise NotFound(f"no sequence {sid!r}")
    seq = await _load_sequence(state.store, sid)
    return JSONResponse(
        {"sequenceId": sid, "status": str(seq.status), "statusUrl": f"/v1/sequences/{sid}"}, status_code=202
    )


async def get_operation(request: Request) -> Response:
    state = app_state(request)
    require_api_key(request, state.settings)
    ctx: str = request.path_params["operation_context"]
    parsed = parse_operation_context(ctx)
    seq = await _load_sequence(state.store, parsed[0]) if parsed else None
    op = seq.op(parsed[1]) if seq is not None and parsed else None
    if seq is None or op is None:
        raise NotFound(f"no operation {ctx!r}")
    body = views.operation(seq, op)
    body["audioFileUri"] = seq.prompt(op).audio_file_uri
    body["events"] = await state.store.read_list(events_key(ctx))
    return JSONResponse(body)


async def get_call(request: Request) -> Response:
    state = app_state(request)
    require_api_key(request, state.settings)
    call_id = _call_id(request)
    since_raw = request.query_params.get("since", "0")
    if not since_raw.isdigit():
        raise InvalidRequest(
            "since must be a non-negative integer (the timelineNext of an earlier answer)", field="since"
        )
    since = int(since_raw)
    loaded = await state.store.load(call_id=call_id)
    if loaded is None or not loaded.call.sequences:
        raise NotFound(f"no call {call_id!r}")
    sequences = []
    for sid in loaded.call.sequences:
        doc = await state.store.load(sid)
        if doc is not None and doc.seq is not None:
            sequences.append(doc.seq)
    timeline = await state.store.read_list(timeline_key(call_id), since)
    return JSONResponse(views.call(loaded.call, sequences, timeline, since))


async def unmatched_events(request: Request) -> Response:
    state = app_state(request)
    require_api_key(request, state.settings)
    items = await state.store.read_list(UNMATCHED)
    return JSONResponse({"events": items, "note": "newest first; callbacks callcue could not match to a play"})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = app_state(request)
    checks: dict[str, object] = {}
    ok = True
    try:
        await state.redis.ping()
        info = await state.redis.config_get("appendonly")
        checks["redis"] = "ok"
        checks["appendonly"] = info.get("appendonly")
    except Exception as exc:  # any failure here means "not ready", whatever its type
        ok = False
        checks["redis"] = f"unavailable: {exc}"
    return Response(
        json.dumps({"status": "ready" if ok else "unavailable", "checks": checks}),
        status_code=200 if ok else 503,
        media_type="application/json",
    )
