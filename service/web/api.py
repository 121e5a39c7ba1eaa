"""The control and status API: start and cancel sequences, and see where everything stands."""

from __future__ import annotations

import contextlib
import re
import time

import redis
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import redis_health, sequencer, timeline
from service.crashpoints import crash_point
from service.documents import Change, SequenceDoc, new_sequence_id, parse_operation_context
from service.errors import InvalidRequest, NotFound
from service.events import shown_record
from service.metrics import METRICS_KEY, RedisCollector
from service.model import CALL_ID_PATTERN, Plan
from service.store import AsyncStore, Committed, Loaded
from service.web import views
from service.web.auth import require_api_key
from service.web.body import read_json
from service.web.callbacks import UNMATCHED
from service.web.state import app_state

_CALL_ID = re.compile(CALL_ID_PATTERN)
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


def _known_query(request: Request, *names: str) -> None:
    """Refuse a query parameter the route does not take: a misspelt one (``?sinse=``) would
    otherwise be ignored without a word."""
    unknown = sorted(set(request.query_params) - set(names))
    if unknown:
        takes = f"it takes {', '.join(names)}" if names else "it takes none"
        raise InvalidRequest(f"unknown query parameter {unknown[0]!r}: {takes}", field=unknown[0])


async def _load_sequence(store: AsyncStore, sid: str) -> SequenceDoc:
    loaded = await store.load(sid)
    if loaded is None or loaded.seq is None:
        raise NotFound(f"no sequence {sid!r}")
    return loaded.seq


async def start_sequence(request: Request) -> Response:
    state = app_state(request)
    require_api_key(request, state.settings, write=True)
    _known_query(request)
    call_id = _call_id(request)
    plan = Plan.from_json(await read_json(request, state.settings.max_body_bytes), state.settings.audio_hosts)
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= 256:
        raise InvalidRequest("Idempotency-Key must be 1 to 256 characters", field="Idempotency-Key")
    sid = new_sequence_id()
    now = time.time()

    def create(loaded: Loaded) -> Change:
        _, change = sequencer.create(loaded.call, loaded.related, call_id, sid, plan, now)
        change.idempotency = (key, sid) if key is not None else None
        return change

    result, _, _ = await state.store.transact(time.time, create, call_id=call_id)
    crash_point("web.after_start")
    if result is Committed.DUPLICATE and key is not None:
        # The same request again (a client retry): the sequence it created, not a second one.
        sid = await state.store.idempotent_sequence(call_id, key) or sid
    seq = await _load_sequence(state.store, sid)
    url = f"/v1/sequences/{sid}"
    body = {"sequenceId": sid, "callConnectionId": call_id, "status": str(seq.status), "statusUrl": url}
    return JSONResponse(body, status_code=202, headers={"Location": url})


async def get_sequence(request: Request) -> Response:
    state = app_state(request)
    require_api_key(request, state.settings)
    _known_query(request)
    seq = await _load_sequence(state.store, _sequence_id(request))
    return JSONResponse(views.sequence(seq))


async def cancel_sequence(request: Request) -> Response:
    state = app_state(request)
    require_api_key(request, state.settings, write=True)
    _known_query(request)
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
    _known_query(request)
    ctx: str = request.path_params["operation_context"]
    parsed = parse_operation_context(ctx)
    seq = await _load_sequence(state.store, parsed[0]) if parsed else None
    op = seq.op(parsed[1]) if seq is not None and parsed else None
    if seq is None or op is None:
        raise NotFound(f"no operation {ctx!r}")
    body = views.operation(seq, op)
    body["audioFileUri"] = seq.prompt(op).audio_file_uri
    body["events"] = [shown_record(r) for r in await state.store.operation_events(seq.id, op.index)]
    return JSONResponse(body)


async def get_call(request: Request) -> Response:
    state = app_state(request)
    require_api_key(request, state.settings)
    _known_query(request, "since")
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
    entries = timeline.expand_all(await state.store.read_timeline(call_id, since), sequences)
    return JSONResponse(views.call(loaded.call, sequences, entries, since))


async def unmatched_events(request: Request) -> Response:
    state = app_state(request)
    require_api_key(request, state.settings)
    _known_query(request)
    items = await state.store.read_list(UNMATCHED)
    return JSONResponse({"events": items, "note": "newest first; callbacks callcue could not match to a play"})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when Redis answers and holds state safely; the rest is reported for operators."""
    state = app_state(request)
    body: dict[str, object] = {}
    ready = True
    try:
        report = await redis_health.persistence(state.redis)
        body["redis"] = report
        body["queues"] = await redis_health.queues(state.redis, state.settings.queue_name, time.time())
        ready = not (state.settings.production and report["checked"] and report["problems"])
    except redis.RedisError as exc:
        ready = False
        body["redis"] = {"error": f"unavailable: {exc}"}
    body["status"] = "ready" if ready else "unavailable"
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    """Prometheus text: deployment-wide series from Redis, then this process's own."""
    state = app_state(request)
    raw = await state.store.read_hash(METRICS_KEY)
    gauges: dict[str, float] = {}
    with contextlib.suppress(redis.RedisError):
        health = await redis_health.queues(state.redis, state.settings.queue_name, time.time())
        gauges = {
            "callcue_queue_depth": health["queueDepth"],
            "callcue_queue_oldest_job_age_seconds": health["oldestJobAgeSeconds"],
            "callcue_outbox_entries": health["outbox"],
            "callcue_outbox_lag_seconds": health["outboxLagSeconds"],
            "callcue_watchdog_lag_seconds": health["watchdogLagSeconds"],
            "callcue_workers": health["workers"],
            "callcue_pumps_alive": health["pumpsAlive"],
        }
    registry = CollectorRegistry()
    registry.register(RedisCollector({k: float(v) for k, v in raw.items()}, gauges))
    body = generate_latest(registry) + generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
