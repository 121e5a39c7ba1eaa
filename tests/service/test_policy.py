"""The outcome table and the decision function, row by row and under random streams."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from service.model import Outcome, OutcomeKind, Plan, Prompt, RetryPolicy, SeqStatus
from service.policy import FIRST, Category, Finish, Play, Position, Wait, backoff, classify, decide

K = OutcomeKind
URI = "https://a.example/x.wav"


@pytest.mark.parametrize(
    ("outcome", "category"),
    [
        (Outcome(K.COMPLETED, 200, 0), Category.SUCCESS),
        (Outcome(K.STARTED), Category.PROGRESS),
        (Outcome(K.CANCELED, 400, 8508), Category.CANCELED),
        (Outcome(K.FAILED, 400, 8508), Category.CANCELED),
        (Outcome(K.FAILED, 400, 8536), Category.RETRYABLE),
        (Outcome(K.FAILED, 500, 8572), Category.RETRYABLE),
        (Outcome(K.FAILED, 500, 9999), Category.RETRYABLE),
        (Outcome(K.FAILED, 400, 8535), Category.FATAL),
        (Outcome(K.FAILED, 400, 8565), Category.FATAL),
        (Outcome(K.FAILED, 418, 1234), Category.FATAL),
        (Outcome(K.TIMED_OUT), Category.RETRYABLE),
        (Outcome(K.DISCONNECTED), Category.CALL_GONE),
        (Outcome(K.FAILED, http_status=404), Category.CALL_GONE),
        (Outcome(K.FAILED, http_status=429), Category.RETRYABLE),
        (Outcome(K.FAILED, http_status=503), Category.RETRYABLE),
        (Outcome(K.FAILED, http_status=500), Category.RETRYABLE),
        (Outcome(K.FAILED, http_status=0), Category.RETRYABLE),
        (Outcome(K.FAILED, http_status=400), Category.FATAL),
        (Outcome(K.FAILED, http_status=401), Category.FATAL),
        (Outcome(K.FAILED, http_status=403), Category.FATAL),
    ],
)
def test_outcome_table(outcome: Outcome, category: Category) -> None:
    assert classify(outcome)[0] is category


def test_unknown_codes_fail_and_say_their_numbers() -> None:
    category, reason = classify(Outcome(K.FAILED, 499, 4242))
    assert category is Category.FATAL and "499" in reason and "4242" in reason


def plan(*prompts: Prompt, attempts: int = 3, on_failure: str = "stop") -> Plan:
    return Plan(prompts=prompts, retry=RetryPolicy(attempts, 100, 1000), on_failure=on_failure)


def test_repeats_then_next_prompt_then_done() -> None:
    p = plan(Prompt(URI, repeat=2, pause_after_ms=300), Prompt(URI))
    done = Outcome(K.COMPLETED, 200, 0)
    first = decide(p, FIRST, done, now=0, deadline_at=None, jitter=0)
    assert first == Play(Position(0, 1, 1), 0.3, "next play")
    second = decide(p, Position(0, 1, 1), done, now=0, deadline_at=None, jitter=0)
    assert isinstance(second, Play) and second.position == Position(1, 0, 1)
    last = decide(p, Position(1, 0, 1), done, now=0, deadline_at=None, jitter=0)
    assert isinstance(last, Finish) and last.status is SeqStatus.COMPLETED


def test_retry_until_attempts_run_out() -> None:
    p = plan(Prompt(URI), attempts=2)
    failed = Outcome(K.FAILED, 400, 8536)
    retry = decide(p, FIRST, failed, now=0, deadline_at=None, jitter=0.5)
    assert isinstance(retry, Play) and retry.position == Position(0, 0, 2)
    final = decide(p, Position(0, 0, 2), failed, now=0, deadline_at=None, jitter=0.5)
    assert isinstance(final, Finish) and final.status is SeqStatus.FAILED and "gave up after 2" in final.reason


def test_skip_goes_on_after_a_fatal_failure() -> None:
    p = plan(Prompt(URI), Prompt(URI), on_failure="skip")
    nxt = decide(p, FIRST, Outcome(K.FAILED, 400, 8535), now=0, deadline_at=None, jitter=0)
    assert isinstance(nxt, Play) and nxt.position == Position(1, 0, 1)
    end = decide(p, Position(1, 0, 1), Outcome(K.FAILED, 400, 8535), now=0, deadline_at=None, jitter=0, failures=1)
    assert isinstance(end, Finish) and end.status is SeqStatus.COMPLETED and "2 prompt(s) skipped" in end.reason


def test_deadline_stops_the_next_play() -> None:
    p = plan(Prompt(URI, pause_after_ms=5000), Prompt(URI))
    end = decide(p, FIRST, Outcome(K.COMPLETED, 200, 0), now=100, deadline_at=103, jitter=0)
    assert isinstance(end, Finish) and end.status is SeqStatus.TIMED_OUT


def test_started_waits_and_canceled_ends() -> None:
    p = plan(Prompt(URI))
    assert isinstance(decide(p, FIRST, Outcome(K.STARTED), now=0, deadline_at=None, jitter=0), Wait)
    end = decide(p, FIRST, Outcome(K.CANCELED, 400, 8508), now=0, deadline_at=None, jitter=0)
    assert isinstance(end, Finish) and end.status is SeqStatus.CANCELED


@given(
    attempt=st.integers(1, 20),
    jitter=st.floats(0, 1, exclude_max=True),
    initial=st.integers(0, 10_000),
    extra=st.integers(0, 100_000),
    retry_after=st.none() | st.floats(0, 600),
)
def test_backoff_is_bounded_and_honours_retry_after(
    attempt: int, jitter: float, initial: int, extra: int, retry_after: float | None
) -> None:
    policy = RetryPolicy(5, initial, initial + extra)
    delay = backoff(policy, attempt, jitter, retry_after)
    cap = policy.max_delay_ms / 1000
    assert 0 <= delay
    if retry_after is None:
        assert delay <= cap
    else:
        assert delay >= retry_after and delay <= max(cap, retry_after)


outcomes = st.sampled_from(
    [
        Outcome(K.COMPLETED, 200, 0),
        Outcome(K.FAILED, 400, 8536),
        Outcome(K.FAILED, 400, 8535),
        Outcome(K.TIMED_OUT),
        Outcome(K.FAILED, http_status=503),
        Outcome(K.STARTED),
        Outcome(K.FAILED, 500, 1),
    ]
)


@settings(max_examples=300)
@given(
    repeats=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    attempts=st.integers(1, 4),
    on_failure=st.sampled_from(["stop", "skip"]),
    stream=st.lists(outcomes, min_size=200, max_size=200),
)
def test_any_outcome_stream_ends_within_the_plan_bound(
    repeats: list[int], attempts: int, on_failure: str, stream: list[Outcome]
) -> None:
    p = plan(*(Prompt(URI, repeat=r) for r in repeats), attempts=attempts, on_failure=on_failure)
    bound = sum(repeats) * attempts  # no stream can cause more plays than this
    pos, plays = FIRST, 1
    for outcome in stream:
        decision = decide(p, pos, outcome, now=0, deadline_at=None, jitter=0.5)
        if isinstance(decision, Finish):
            break
        if isinstance(decision, Play):
            assert decision.position > pos  # always forward: a later attempt, repeat or step
            pos, plays = decision.position, plays + 1
    else:
        # Only "started" decides nothing; every other outcome ends the plan or moves it forward.
        assert sum(1 for o in stream if o.kind is not K.STARTED) < bound
    assert plays <= bound
