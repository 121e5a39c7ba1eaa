"""RQ jobs: every request callcue sends to ACS is sent from here.

A job takes one outbox entry (a string; jobs take ids, never objects) and removes the entry
from the outbox when it is done. A job that runs twice is harmless: the play's ledger entry
(``requested_at``) is claimed atomically before the request leaves, and a second run finds it.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import threading
import time

import httpx

from service import sequencer
from service.crashpoints import crash_point
from service.documents import Change, OpRecord, SequenceDoc, operation_context, parse_operation_context
from service.logs import bind
from service.metrics import series
from service.model import Outcome, OutcomeKind, Prompt
from service.store import OUTBOX, Committed, Loaded
from service.wav import HEADER_BYTES, duration_seconds
from workers import context, session
from workers.context import WorkerContext

log = logging.getLogger("callcue.worker")

WAV_CACHE_SECONDS = 3600  # ACS itself caches a prompt for about an hour


def run_entries(entries: list[str]) -> int:
    """The RQ job: a batch of due outbox entries, and those the pump claims while it runs.

    At low load a batch is one entry; under load a claim holds many. Either way the job goes on
    taking what the pump of this process claims next, for up to ``job_session_seconds``
    (``workers.session``), so RQ's per-job bookkeeping is paid once for many requests to ACS.
    """
    return session.SESSION.run(entries, run_entry, context.get().settings.job_session_seconds)


def run_entry(entry: str, loaded: Loaded | None = None) -> str:
    """Run one outbox entry; ``loaded`` is its sequence as the pump read it when it claimed the entry."""
    ctx = context.get()
    kind, _, ref = entry.partition(":")
    sequence_id = ref.rpartition(".")[0] if kind == "play" else ref
    with bind(sequenceId=sequence_id, operationContext=ref if kind == "play" else None):
        removed = False
        if kind == "play":
            result, removed = play(ctx, ref, loaded)
        elif kind == "cancel":
            result = cancel_media(ctx, ref)
        else:
            result = f"unknown outbox entry {entry!r}"
        crash_point("worker.after_outcome")
        if not removed:  # a recorded answer removed its entry in the same atomic step
            ctx.redis.zrem(OUTBOX, entry)
        # Every play is on the call's timeline already; the log has the exceptions to the rule.
        log.log(logging.DEBUG if result.startswith("accepted") else logging.INFO, "%s: %s", entry, result)
    return result


def play(ctx: WorkerContext, op_ctx: str, claimed: Loaded | None = None) -> tuple[str, bool]:
    """What happened, and whether the outbox entry went with the recorded answer."""
    parsed = parse_operation_context(op_ctx)
    if parsed is None:
        return "not a callcue operationContext", False
    sid, index = parsed
    # What the claim read is at least as new as the entry, and the ledger's version check catches
    # anything written since; only its "nothing to send" is checked against a fresh read.
    done = _play_from(ctx, claimed if claimed is not None else ctx.store.load(sid), index)
    if done is None and claimed is not None:
        done = _play_from(ctx, ctx.store.load(sid), index)
    return done or ("skipped: unknown operation, already requested, or no longer the sequence's current play", False)


def _play_from(ctx: WorkerContext, loaded: Loaded | None, index: int) -> tuple[str, bool] | None:
    op = loaded.seq.op(index) if loaded and loaded.seq else None
    if loaded is None or loaded.seq is None or op is None:
        return None
    with bind(callConnectionId=loaded.seq.call_id):
        return _play(ctx, loaded, loaded.seq, op)


def _play(ctx: WorkerContext, loaded: Loaded, seq: SequenceDoc, op: OpRecord) -> tuple[str, bool] | None:
    """Claim the ledger, send the play, record ACS's answer: one step each, each atomic.

    Each step starts from the documents the previous one wrote, so a play costs no read of its own
    when the pump's claim read the sequence. None when the ledger shows there is nothing to send.
    """
    sid, index, call_id, prompt = seq.id, op.index, seq.call_id, seq.prompt(op)
    op_ctx = operation_context(sid, index)
    # The duration sets the watchdog written with the ledger mark, which is what recovers a play
    # whose worker died before sending it: read it first (cached; a header download once an hour).
    expected = None if prompt.loop else prompt_seconds(ctx, prompt)
    settings = ctx.settings

    crash_point("worker.before_ledger")

    def start(current: Loaded) -> Change | None:
        if current.seq is None:
            return None
        return sequencer.on_request_started(
            current.seq,
            index,
            time.time(),
            timeout=settings.acs_timeout_seconds,
            max_play=settings.max_play_seconds,
            grace=settings.watchdog_grace_seconds,
            expected=expected,
        )

    _, change, current = ctx.store.transact(time.time, start, sid=sid, first=loaded)
    if change is None:
        return None
    entry = f"play:{op_ctx}"
    crash_point("worker.after_ledger")
    if op.cancel_first:
        cancel = ctx.acs.cancel_all(call_id, operation_context=f"{op_ctx}.cancel", now=time.time())
        log.info("cancelAllMediaOperations before %s: HTTP %s", op_ctx, cancel.status)
    response = ctx.acs.play(
        call_id,
        audio_uri=prompt.audio_file_uri,
        audio_file_id=prompt.audio_file_id,
        loop=prompt.loop,
        operation_context=op_ctx,
        callback_uri=settings.callback_url,
        now=time.time(),
    )
    crash_point("worker.after_request")
    if response.accepted:

        def accepted(current: Loaded) -> Change | None:
            if current.seq is None:
                return None
            change = sequencer.on_request_accepted(
                current.seq,
                index,
                time.time(),
                response.operation_id,
                max_play=settings.max_play_seconds,
                grace=settings.watchdog_grace_seconds,
            )
            if change is not None:
                change.counts[series("callcue_plays", result="accepted")] += 1
                change.done.append(entry)
            return change

        result, change, _ = ctx.store.transact(time.time, accepted, sid=sid, first=current)
        return f"accepted (HTTP {response.status})", change is not None and result is Committed.OK and not change.empty
    outcome = Outcome(
        kind=OutcomeKind.FAILED,
        http_status=response.status,
        retry_after=response.retry_after,
        message=response.error or f"HTTP {response.status}",
    )
    jitter = random.random()

    def failed(current: Loaded) -> Change | None:
        if current.seq is None:
            return None
        change = sequencer.on_outcome(current.seq, current.call, current.related, index, outcome, time.time(), jitter)
        change.counts[series("callcue_plays", result=str(response.status))] += 1
        change.done.append(entry)
        return change

    result, change, _ = ctx.store.transact(time.time, failed, sid=sid, first=current)
    removed = change is not None and not change.empty and result is Committed.OK
    return f"refused (HTTP {response.status}: {outcome.message})", removed


def cancel_media(ctx: WorkerContext, sid: str) -> str:
    loaded = ctx.store.load(sid)
    if loaded is None or loaded.seq is None:
        return "unknown sequence"
    response = ctx.acs.cancel_all(loaded.seq.call_id, operation_context=f"{sid}.cancel", now=time.time())
    return f"cancelAllMediaOperations: HTTP {response.status}"


_RANGE_TOTAL = re.compile(r"/(\d+)\s*$")


_durations: dict[str, tuple[float, float | None]] = {}  # key -> (expires, seconds): saves a round trip
_durations_lock = threading.Lock()


def prompt_seconds(ctx: WorkerContext, prompt: Prompt) -> float | None:
    """The prompt's duration from its WAV header, cached; None when it cannot be read quickly."""
    key = "cc:wav:" + hashlib.sha1(f"{prompt.audio_file_uri}|{prompt.audio_file_id}".encode()).hexdigest()
    now = time.monotonic()
    known = _durations.get(key)
    if known is not None and known[0] > now:
        return known[1]
    seconds = _read_duration(ctx, prompt, key)
    with _durations_lock:
        _durations[key] = (now + WAV_CACHE_SECONDS / 4, seconds)
    return seconds


def _read_duration(ctx: WorkerContext, prompt: Prompt, key: str) -> float | None:
    cached = ctx.redis.get(key)
    if cached is not None:
        return float(cached) if cached != b"-" else None
    seconds: float | None = None
    try:
        with ctx.http.stream("GET", prompt.audio_file_uri, headers={"Range": f"bytes=0-{HEADER_BYTES - 1}"}) as r:
            if r.is_success:
                head = b""
                for chunk in r.iter_bytes():
                    head += chunk
                    if len(head) >= HEADER_BYTES:
                        break
                total = _RANGE_TOTAL.search(r.headers.get("content-range", ""))
                size = int(total.group(1)) if total else int(r.headers.get("content-length") or 0) or None
                seconds = duration_seconds(head[:HEADER_BYTES], size)
    except httpx.HTTPError as exc:
        log.info("could not read the WAV header of %s: %s", prompt.audio_file_uri, exc)
    ctx.redis.set(key, "-" if seconds is None else f"{seconds:.3f}", ex=WAV_CACHE_SECONDS)
    return seconds
