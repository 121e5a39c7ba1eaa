"""Transitions: given the loaded documents and what just happened, the Change to write.

Pure functions (the caller passes the clock and the jitter); the policy decides, this module
applies the decision to the documents and says which follow-ups to schedule. Outbox entries:

- ``play:<operationContext>``: issue that play request (workers.jobs)
- ``cancel:<sequenceId>``: send cancelAllMediaOperations for the call of that sequence

Watch entries (the watchdog, workers.pump): ``op:<operationContext>`` when a play is overdue,
``deadline:<sequenceId>`` when a sequence reaches its deadline.
"""

from __future__ import annotations

from typing import Any

from service.documents import CallDoc, Change, OpRecord, SequenceDoc, operation_context
from service.errors import Conflict
from service.metrics import observe, series
from service.model import OpStatus, Outcome, OutcomeKind, Plan, SeqStatus
from service.policy import FIRST, Category, Finish, Play, Position, Wait, classify, decide

_OP_STATUS = {
    Category.SUCCESS: OpStatus.COMPLETED,
    Category.CANCELED: OpStatus.CANCELED,
    Category.RETRYABLE: OpStatus.FAILED,
    Category.FATAL: OpStatus.FAILED,
    Category.CALL_GONE: OpStatus.FAILED,
}


def play_entry(seq: SequenceDoc, op: OpRecord) -> str:
    return f"play:{operation_context(seq.id, op.index)}"


def _mark(change: Change, kind: str, seq: SequenceDoc, now: float, op: OpRecord | None = None, **extra: Any) -> None:
    entry: dict[str, Any] = {"at": now, "kind": kind, "sequenceId": seq.id}
    if op is not None:
        entry.update(
            operationContext=operation_context(seq.id, op.index), step=op.step, repeat=op.repeat, attempt=op.attempt
        )
    entry.update({k: v for k, v in extra.items() if v is not None})
    change.timeline.append(entry)


def _schedule(change: Change, seq: SequenceDoc, pos: Position, now: float, delay: float, cancel_first: bool) -> None:
    op = OpRecord(
        index=len(seq.ops),
        step=pos.step,
        repeat=pos.repeat,
        attempt=pos.attempt,
        generation=seq.generation,
        status=OpStatus.NOT_STARTED,
        created_at=now,
        due_at=now + delay,
        cancel_first=cancel_first,
    )
    seq.ops.append(op)
    seq.current = op.index
    if pos.attempt > 1:
        change.counts[series("callcue_retries")] += 1
    change.outbox.append((play_entry(seq, op), op.due_at))
    _mark(change, "playScheduled", seq, now, op, dueAt=op.due_at, audioFileUri=seq.prompt(op).audio_file_uri)


def _activate(change: Change, seq: SequenceDoc, now: float, cancel_first: bool) -> None:
    seq.status = SeqStatus.RUNNING
    seq.updated_at = now
    if seq.plan.deadline_seconds is not None:
        seq.deadline_at = now + seq.plan.deadline_seconds
        change.watch.append((f"deadline:{seq.id}", seq.deadline_at))
    _schedule(change, seq, FIRST, now, 0.0, cancel_first)


def _end(change: Change, seq: SequenceDoc, status: SeqStatus, reason: str, now: float) -> None:
    seq.status = status
    seq.reason = reason
    seq.ended_at = seq.updated_at = now
    seq.current = None
    change.unwatch.append(f"deadline:{seq.id}")
    change.counts[series("callcue_sequences_ended", status=str(status))] += 1
    _mark(change, "sequenceEnded", seq, now, status=str(status), reason=reason)


def _hand_over(change: Change, call: CallDoc, queued: list[SequenceDoc], now: float, cancel_first: bool) -> None:
    """The active sequence ended: start the next queued one, or fail them all if the call is gone."""
    call.active = None
    by_id = {s.id: s for s in queued}
    while call.queue:
        nxt = by_id.get(call.queue.pop(0))
        if nxt is None or nxt.status is not SeqStatus.QUEUED:
            continue
        change.sequences.append(nxt)
        if call.gone:
            _end(change, nxt, SeqStatus.FAILED, "the call is gone", now)
            continue
        call.active = nxt.id
        _activate(change, nxt, now, cancel_first)
        break
    change.call = call


def create(
    call: CallDoc | None, queued: list[SequenceDoc], call_id: str, sid: str, plan: Plan, now: float
) -> tuple[SequenceDoc, Change]:
    """A new sequence on a call, started now, queued behind the active one, or replacing it."""
    if call is not None and call.gone:
        raise Conflict("the call is gone: nothing can play on it any more", callConnectionId=call_id)
    call = call or CallDoc(id=call_id)
    seq = SequenceDoc(id=sid, call_id=call_id, plan=plan, status=SeqStatus.QUEUED, created_at=now, updated_at=now)
    change = Change(call_id=call_id, sequences=[seq], call=call)
    call.sequences.append(sid)
    _mark(change, "sequenceCreated", seq, now, mode=plan.mode, prompts=len(plan.prompts))
    active = next((s for s in queued if s.id == call.active), None)
    if active is None or active.status.terminal:
        call.active = sid
        _activate(change, seq, now, cancel_first=False)
    elif plan.mode == "enqueue":
        call.queue.append(sid)
    else:
        # Replace: the old sequence ends; the new one's first play cancels what is playing, so
        # the cancel and the play cannot overtake each other in two workers.
        change.sequences.append(active)
        _stop(change, active, SeqStatus.CANCELED, "replaced by " + sid, now)
        call.active = sid
        _activate(change, seq, now, cancel_first=True)
    return seq, change


def _stop(change: Change, seq: SequenceDoc, status: SeqStatus, reason: str, now: float) -> None:
    """End a running sequence: a new generation, so that every late event of it changes nothing."""
    seq.generation += 1
    op = seq.op(seq.current) if seq.current is not None else None
    if op is not None and not op.status.terminal:
        op.status = OpStatus.CANCELED
        op.ended_at = now
        op.reason = reason
        change.unwatch.append(f"op:{operation_context(seq.id, op.index)}")
    _end(change, seq, status, reason, now)


def cancel(seq: SequenceDoc, call: CallDoc, queued: list[SequenceDoc], now: float) -> Change:
    if seq.status.terminal:
        raise Conflict(
            f"the sequence has already ended ({seq.status})", sequenceId=seq.id, sequenceStatus=str(seq.status)
        )
    change = Change(call_id=seq.call_id, sequences=[seq], call=call)
    _mark(change, "cancelRequested", seq, now)
    if seq.status is SeqStatus.QUEUED:
        call.queue = [s for s in call.queue if s != seq.id]
        _end(change, seq, SeqStatus.CANCELED, "canceled before it started", now)
        return change
    was_playing = seq.current is not None and seq.ops[seq.current].requested_at is not None
    _stop(change, seq, SeqStatus.CANCELED, "canceled", now)
    _hand_over(change, call, queued, now, cancel_first=was_playing)
    if was_playing and call.active is None:
        change.outbox.append((f"cancel:{seq.id}", now))
    return change


def on_outcome(
    seq: SequenceDoc,
    call: CallDoc,
    queued: list[SequenceDoc],
    index: int,
    outcome: Outcome,
    now: float,
    jitter: float,
    event: dict[str, Any] | None = None,
) -> Change:
    """Apply what happened to operation ``index``: a callback, the play request's answer, or the watchdog."""
    change = Change(call_id=seq.call_id)
    op = seq.op(index)
    # A callback's record keeps the raw event only: its outcome is derived again when shown
    # (service.events.shown_record), which saves a tenth of what a finished play keeps in Redis.
    record: dict[str, Any] = {"at": now}
    if event is not None:
        record["event"] = event
    else:
        record["outcome"] = outcome.to_json()
    if op is None:
        record["ignored"] = "unknown operation"
        change.events.append((operation_context(seq.id, index), record))
        return change
    ctx = operation_context(seq.id, index)
    change.events.append((ctx, record))
    category, reason = classify(outcome)
    _mark(
        change,
        "outcome",
        seq,
        now,
        op,
        outcome=str(outcome.kind),
        code=outcome.code,
        subcode=outcome.subcode,
        httpStatus=outcome.http_status,
        reason=reason,
    )
    if op.status.terminal:
        record["ignored"] = f"operation already {op.status}"
        return change
    change.sequences.append(seq)
    if category is Category.PROGRESS:
        op.status = OpStatus.RUNNING
        op.started_at = op.started_at or now
        return change
    op.status = OpStatus.TIMED_OUT if outcome.kind is OutcomeKind.TIMED_OUT else _OP_STATUS[category]
    if op.status is OpStatus.TIMED_OUT:
        change.counts[series("callcue_watchdog_timeouts")] += 1
    op.ended_at = now
    op.result = outcome.to_json()
    op.reason = reason
    change.unwatch.append(f"op:{ctx}")
    live = seq.status is SeqStatus.RUNNING and op.generation == seq.generation and seq.current == index
    if category is Category.CALL_GONE:
        call.gone = True
        change.call = call
    if not live:
        record["ignored"] = f"sequence {seq.status}, generation {seq.generation}: recorded only"
        return change
    deadline = seq.deadline_at
    decision = decide(
        seq.plan, op.position, outcome, now=now, deadline_at=deadline, jitter=jitter, failures=seq.failures
    )
    record["decision"] = type(decision).__name__.lower()
    if isinstance(decision, Wait):
        return change
    if isinstance(decision, Play):
        if decision.position.step != op.step and op.status is not OpStatus.COMPLETED:
            seq.failures += 1
        seq.updated_at = now
        _schedule(change, seq, decision.position, now, decision.delay, cancel_first=False)
        return change
    assert isinstance(decision, Finish)
    _end(change, seq, decision.status, decision.reason, now)
    _hand_over(change, call, queued, now, cancel_first=False)
    return change


def on_deadline(seq: SequenceDoc, call: CallDoc, queued: list[SequenceDoc], now: float) -> Change | None:
    """The sequence's deadline passed: no new play, and what is playing is canceled.

    Stopping the play (rather than letting it finish) keeps the rule that a call never has two
    plays of callcue in flight: the next sequence may start at once.
    """
    if seq.status is not SeqStatus.RUNNING:
        return None
    change = Change(call_id=seq.call_id, sequences=[seq], call=call)
    op = seq.op(seq.current) if seq.current is not None else None
    playing = op is not None and op.requested_at is not None and not op.status.terminal
    _stop(change, seq, SeqStatus.TIMED_OUT, "deadline reached" + (" while playing" if playing else ""), now)
    _hand_over(change, call, queued, now, cancel_first=playing)
    if playing and call.active is None:
        change.outbox.append((f"cancel:{seq.id}", now))
    return change


def on_request_started(
    seq: SequenceDoc, index: int, now: float, *, timeout: float, max_play: float, grace: float, expected: float | None
) -> Change | None:
    """The ledger: mark the play as about to be sent. None means: do not send it (again).

    ``expected`` is the prompt's duration when the worker could read it from the WAV header.
    """
    op = seq.op(index)
    if op is None or op.requested_at is not None or op.status is not OpStatus.NOT_STARTED:
        return None
    if seq.status is not SeqStatus.RUNNING or op.generation != seq.generation or seq.current != index:
        return None
    op.requested_at = now
    op.expected_seconds = expected
    change = Change(call_id=seq.call_id, sequences=[seq])
    # The silence callcue adds: from the play being due (previous result + pause) to its request.
    observe(change.counts, change.sums, "callcue_gap_seconds", max(0.0, now - op.due_at))
    if not seq.prompt(op).loop:
        expected = op.expected_seconds if op.expected_seconds is not None else max_play
        change.watch.append((f"op:{operation_context(seq.id, index)}", now + timeout + expected + grace))
    _mark(change, "playRequested", seq, now, op, audioFileUri=seq.prompt(op).audio_file_uri)
    return change


def on_request_accepted(
    seq: SequenceDoc, index: int, now: float, acs_operation_id: str | None, *, max_play: float, grace: float
) -> Change | None:
    """ACS accepted the play (202). Its result may already have arrived: then only the times change."""
    op = seq.op(index)
    if op is None or op.accepted_at is not None:
        return None
    op.accepted_at = now
    op.acs_operation_id = acs_operation_id
    change = Change(call_id=seq.call_id, sequences=[seq])
    if op.status is OpStatus.NOT_STARTED:
        op.status = OpStatus.RUNNING
        if not seq.prompt(op).loop:
            # Tighter than the deadline set when the request left: the request's own timeout is over.
            expected = op.expected_seconds if op.expected_seconds is not None else max_play
            change.watch.append((f"op:{operation_context(seq.id, index)}", now + expected + grace))
    _mark(change, "playAccepted", seq, now, op)
    return change
