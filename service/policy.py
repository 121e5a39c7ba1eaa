"""What to do after an outcome: one pure function over plain data, driven by one table.

No I/O, no clock, no randomness of its own: the caller passes ``now`` and a ``jitter`` in
[0, 1), so every decision can be replayed and tested exhaustively.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from service.model import Outcome, OutcomeKind, Plan, RetryPolicy, SeqStatus


class Category(StrEnum):
    PROGRESS = "progress"  # playback started; nothing to decide
    SUCCESS = "success"
    RETRYABLE = "retryable"
    FATAL = "fatal"
    CANCELED = "canceled"
    CALL_GONE = "callGone"


@dataclass(frozen=True)
class Rule:
    """One row of the outcome table; ``None`` matches anything. The first matching row wins."""

    category: Category
    reason: str
    kind: OutcomeKind | None = None
    subcode: int | None = None
    http_status: int | None = None
    http_class: int | None = None  # 4 or 5: any 4xx / 5xx answer to the play request


_K = OutcomeKind
_C = Category

# The README's outcome table is this table; keep them together.
OUTCOME_TABLE: tuple[Rule, ...] = (
    Rule(_C.PROGRESS, "playback started", kind=_K.STARTED),
    Rule(_C.CALL_GONE, "the call is gone", kind=_K.DISCONNECTED),
    Rule(_C.CANCELED, "canceled", kind=_K.CANCELED),
    Rule(_C.CANCELED, "canceled (8508)", subcode=8508),
    Rule(_C.RETRYABLE, "no terminal event in time (watchdog)", kind=_K.TIMED_OUT),
    Rule(_C.SUCCESS, "completed", kind=_K.COMPLETED),
    # Answers to the play request itself.
    Rule(_C.CALL_GONE, "ACS answered 404: the call is gone", http_status=404),
    Rule(_C.RETRYABLE, "ACS throttled the request (429)", http_status=429),
    Rule(_C.RETRYABLE, "ACS request timed out (408)", http_status=408),
    Rule(_C.RETRYABLE, "no answer from ACS (timeout or connection error)", http_status=0),
    Rule(_C.RETRYABLE, "ACS server error (5xx)", http_class=5),
    Rule(_C.FATAL, "ACS refused the request (4xx)", http_class=4),
    # Result codes of the play itself.
    Rule(_C.RETRYABLE, "audio file could not be downloaded (8536)", subcode=8536),
    Rule(_C.RETRYABLE, "play service shut down (8572)", subcode=8572),
    Rule(_C.RETRYABLE, "unknown internal error (9999)", subcode=9999),
    Rule(_C.RETRYABLE, "underlying service timed out (9002)", subcode=9002),
    Rule(_C.FATAL, "audio file format is invalid (8535)", subcode=8535),
    Rule(_C.CALL_GONE, "call terminated (8528)", subcode=8528),
)


def classify(outcome: Outcome) -> tuple[Category, str]:
    for rule in OUTCOME_TABLE:
        if rule.kind is not None and rule.kind != outcome.kind:
            continue
        if rule.subcode is not None and rule.subcode != outcome.subcode:
            continue
        if rule.http_status is not None and rule.http_status != outcome.http_status:
            continue
        if rule.http_class is not None and (outcome.http_status or 0) // 100 != rule.http_class:
            continue
        return rule.category, rule.reason
    # Unknown codes never loop: they fail without retry and say what they were.
    return Category.FATAL, f"unrecognised failure (code {outcome.code}, subcode {outcome.subcode})"


@dataclass(frozen=True, order=True)
class Position:
    step: int  # index into plan.prompts
    repeat: int  # 0-based play of that prompt
    attempt: int  # 1-based try of that play


@dataclass(frozen=True)
class Play:
    position: Position
    delay: float  # seconds from now
    reason: str


@dataclass(frozen=True)
class Finish:
    status: SeqStatus
    reason: str


@dataclass(frozen=True)
class Wait:
    reason: str


Decision = Play | Finish | Wait

FIRST = Position(0, 0, 1)


def backoff(retry: RetryPolicy, attempt: int, jitter: float, retry_after: float | None) -> float:
    """Seconds before try ``attempt + 1``: exponential, capped, half-jittered; a longer Retry-After wins."""
    base: float = min(retry.initial_delay_ms * 2 ** (attempt - 1), retry.max_delay_ms) / 1000
    delay = base / 2 + jitter * base / 2
    if retry_after is not None and retry_after > delay:
        return retry_after
    return delay


def after_success(plan: Plan, pos: Position) -> Position | None:
    prompt = plan.prompts[pos.step]
    if pos.repeat + 1 < prompt.repeat:
        return Position(pos.step, pos.repeat + 1, 1)
    return next_step(plan, pos)


def next_step(plan: Plan, pos: Position) -> Position | None:
    return Position(pos.step + 1, 0, 1) if pos.step + 1 < len(plan.prompts) else None


def _schedule(pos: Position, delay: float, reason: str, now: float, deadline_at: float | None) -> Decision:
    if deadline_at is not None and now + delay >= deadline_at:
        return Finish(SeqStatus.TIMED_OUT, f"deadline reached before the next play ({reason})")
    return Play(pos, delay, reason)


def decide(
    plan: Plan,
    pos: Position,
    outcome: Outcome,
    *,
    now: float,
    deadline_at: float | None,
    jitter: float,
    failures: int = 0,
) -> Decision:
    """The next action after ``outcome`` of the play at ``pos``.

    ``failures`` counts plays of this sequence already given up on (``onFailure: skip``), so
    that a sequence that skipped something says so when it ends.
    """
    category, reason = classify(outcome)
    if category is Category.PROGRESS:
        return Wait(reason)
    if category is Category.CANCELED:
        return Finish(SeqStatus.CANCELED, reason)
    if category is Category.CALL_GONE:
        return Finish(SeqStatus.FAILED, reason)
    if category is Category.SUCCESS:
        nxt = after_success(plan, pos)
        if nxt is None:
            skipped = f" ({failures} prompt(s) skipped after failure)" if failures else ""
            return Finish(SeqStatus.COMPLETED, "all prompts played" + skipped)
        return _schedule(nxt, plan.prompts[pos.step].pause_after_ms / 1000, "next play", now, deadline_at)
    if category is Category.RETRYABLE and pos.attempt < plan.retry.max_attempts:
        delay = backoff(plan.retry, pos.attempt, jitter, outcome.retry_after)
        retry = Position(pos.step, pos.repeat, pos.attempt + 1)
        return _schedule(retry, delay, f"retry after: {reason}", now, deadline_at)
    if category is Category.RETRYABLE:
        reason = f"{reason}; gave up after {pos.attempt} attempt(s)"
    if plan.on_failure == "skip":
        nxt = next_step(plan, pos)
        if nxt is None:
            return Finish(SeqStatus.COMPLETED, f"all prompts played ({failures + 1} prompt(s) skipped after failure)")
        return _schedule(nxt, 0.0, f"skip after: {reason}", now, deadline_at)
    return Finish(SeqStatus.FAILED, reason)
