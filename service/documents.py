"""The stored state of calls and sequences, and the change a transition makes to it.

A sequence is one JSON document (its plan, where it stands, and one record per play request,
called an operation). A call is a small document naming its sequences, the active one and the
queue behind it. Both carry a version; a transition writes them back only if nobody else did in
between (see service.store), so concurrent callbacks, jobs and API calls never interleave.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from service.model import OpStatus, Plan, Prompt, RetryPolicy, SeqStatus
from service.policy import Position

SEQUENCE_ID_PREFIX = "sq_"


def new_sequence_id() -> str:
    return SEQUENCE_ID_PREFIX + secrets.token_hex(10)


def operation_context(sequence_id: str, index: int) -> str:
    """The ``operationContext`` sent to ACS: unguessable (the sequence id is random) and
    self-locating, because preview events carry no callConnectionId."""
    return f"{sequence_id}.{index}"


def parse_operation_context(value: str) -> tuple[str, int] | None:
    sid, sep, index = value.rpartition(".")
    if not sep or not sid.startswith(SEQUENCE_ID_PREFIX) or not index.isdigit() or len(sid) > 64:
        return None
    return sid, int(index)


def millis(t: float) -> float:
    """A unix time kept to the millisecond, as every stored record keeps it (a third of round(t, 3)'s cost)."""
    return int(t * 1000) / 1000


def _opt_millis(t: float | None) -> float | None:
    return None if t is None else millis(t)


def _opt(value: Any, cast: type[float] | type[int] | type[str]) -> Any:
    return None if value is None else cast(value)


@dataclass
class OpRecord:
    index: int
    step: int
    repeat: int
    attempt: int
    generation: int
    status: OpStatus
    created_at: float
    due_at: float
    cancel_first: bool = False  # send cancelAllMediaOperations before this play (mode "replace")
    requested_at: float | None = None  # the ledger: set once, before the request leaves
    accepted_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    acs_operation_id: str | None = None
    result: dict[str, Any] | None = None  # the deciding outcome, as Outcome.to_json()
    reason: str | None = None
    expected_seconds: float | None = None  # from the WAV header, when it could be read

    @property
    def position(self) -> Position:
        return Position(self.step, self.repeat, self.attempt)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "i": self.index,
            "s": self.step,
            "r": self.repeat,
            "a": self.attempt,
            "g": self.generation,
            "st": self.status.value,
            "c": millis(self.created_at),
            "due": millis(self.due_at),
        }
        # Times to the millisecond, and unset fields left out (from_json defaults them): a finished
        # sequence is kept for the retention period, and most of these stay unset for most plays.
        # Plain ifs: this runs for every operation of a sequence on every transition.
        if self.cancel_first:
            out["cf"] = True
        if self.requested_at is not None:
            out["req"] = millis(self.requested_at)
        if self.accepted_at is not None:
            out["acc"] = millis(self.accepted_at)
        if self.started_at is not None:
            out["sta"] = millis(self.started_at)
        if self.ended_at is not None:
            out["end"] = millis(self.ended_at)
        if self.acs_operation_id is not None:
            out["oid"] = self.acs_operation_id
        if self.result is not None:
            out["res"] = self.result
        if self.reason is not None:
            out["why"] = self.reason
        if self.expected_seconds is not None:
            out["exp"] = millis(self.expected_seconds)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> OpRecord:
        return cls(
            index=d["i"],
            step=d["s"],
            repeat=d["r"],
            attempt=d["a"],
            generation=d["g"],
            status=OpStatus(d["st"]),
            created_at=d["c"],
            due_at=d["due"],
            cancel_first=d.get("cf", False),
            requested_at=_opt(d.get("req"), float),
            accepted_at=_opt(d.get("acc"), float),
            started_at=_opt(d.get("sta"), float),
            ended_at=_opt(d.get("end"), float),
            acs_operation_id=d.get("oid"),
            result=d.get("res"),
            reason=d.get("why"),
            expected_seconds=_opt(d.get("exp"), float),
        )


@dataclass
class SequenceDoc:
    id: str
    call_id: str
    plan: Plan
    status: SeqStatus
    created_at: float
    updated_at: float
    generation: int = 1
    deadline_at: float | None = None
    reason: str | None = None
    ended_at: float | None = None
    current: int | None = None  # index of the operation scheduled or in flight
    failures: int = 0  # plays given up on under onFailure "skip"
    ops: list[OpRecord] = field(default_factory=list)
    version: int = 0  # not stored in the document: the store keeps it beside it

    def op(self, index: int) -> OpRecord | None:
        return self.ops[index] if 0 <= index < len(self.ops) else None

    def prompt(self, op: OpRecord) -> Prompt:
        return self.plan.prompts[op.step]

    def to_json(self) -> dict[str, Any]:
        # Times to the millisecond, as the operations keep theirs: service.express writes this
        # document's "updated" itself, and re-encodes an operation with Lua's cjson (14 significant
        # digits), through which a unix time in milliseconds passes unchanged.
        return {
            "id": self.id,
            "call": self.call_id,
            "plan": self.plan.to_json(),
            "status": str(self.status),
            "created": millis(self.created_at),
            "updated": millis(self.updated_at),
            "gen": self.generation,
            "deadline": _opt_millis(self.deadline_at),
            "reason": self.reason,
            "ended": _opt_millis(self.ended_at),
            "cur": self.current,
            "failures": self.failures,
            "ops": [op.to_json() for op in self.ops],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], version: int) -> SequenceDoc:
        plan = d["plan"]
        return cls(
            id=d["id"],
            call_id=d["call"],
            plan=Plan(
                prompts=tuple(
                    Prompt(
                        audio_file_uri=p["audioFileUri"],
                        audio_file_id=p.get("audioFileId"),
                        repeat=p.get("repeat", 1),
                        loop=p.get("loop", False),
                        pause_after_ms=p.get("pauseAfterMs", 0),
                    )
                    for p in plan["prompts"]
                ),
                retry=RetryPolicy(
                    max_attempts=plan["retry"]["maxAttempts"],
                    initial_delay_ms=plan["retry"]["initialDelayMs"],
                    max_delay_ms=plan["retry"]["maxDelayMs"],
                ),
                on_failure=plan["onFailure"],
                deadline_seconds=plan.get("deadlineSeconds"),
                mode=plan["mode"],
            ),
            status=SeqStatus(d["status"]),
            created_at=d["created"],
            updated_at=d["updated"],
            generation=d["gen"],
            deadline_at=_opt(d.get("deadline"), float),
            reason=d.get("reason"),
            ended_at=_opt(d.get("ended"), float),
            current=d.get("cur"),
            failures=d.get("failures", 0),
            ops=[OpRecord.from_json(op) for op in d["ops"]],
            version=version,
        )


@dataclass
class CallDoc:
    id: str
    sequences: list[str] = field(default_factory=list)  # every sequence of the call, oldest first
    active: str | None = None  # the sequence that may play now
    queue: list[str] = field(default_factory=list)  # sequences waiting behind it (mode "enqueue")
    gone: bool = False  # the call ended: nothing will play on it again
    version: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "seqs": self.sequences, "active": self.active, "queue": self.queue, "gone": self.gone}

    @classmethod
    def from_json(cls, d: dict[str, Any], version: int) -> CallDoc:
        return cls(
            id=d["id"],
            sequences=list(d["seqs"]),
            active=d.get("active"),
            queue=list(d.get("queue", [])),
            gone=d.get("gone", False),
            version=version,
        )


@dataclass
class Change:
    """Everything one transition writes, applied atomically by the store, or not at all."""

    call_id: str
    sequences: list[SequenceDoc] = field(default_factory=list)
    call: CallDoc | None = None
    outbox: list[tuple[str, float]] = field(default_factory=list)  # (entry, due time)
    watch: list[tuple[str, float]] = field(default_factory=list)  # (entry, deadline)
    unwatch: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (operationContext, record)
    dedupe: str | None = None  # refuse the whole change if this event key was already applied
    idempotency: tuple[str, str] | None = None  # (Idempotency-Key, sequence id) of a new sequence
    done: list[str] = field(default_factory=list)  # outbox entries this change completes (removed with it)
    counts: Counter[str] = field(default_factory=Counter)  # metric increments (service.metrics)
    sums: dict[str, float] = field(default_factory=dict)  # float increments (histogram sums)

    def committed(self) -> None:
        """The store wrote this change: the documents in memory are now the stored versions."""
        for doc in {id(d): d for d in self.sequences}.values():
            doc.version += 1
        if self.call is not None:
            self.call.version += 1

    @property
    def empty(self) -> bool:
        return not (
            self.sequences or self.call or self.outbox or self.watch or self.unwatch or self.events or self.done
        )
