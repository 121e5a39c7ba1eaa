"""The pump against real Redis and a real RQ queue: leases, the sweeper, the watchdog, trimming."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from service import sequencer
from service.documents import Change
from service.model import Plan
from service.settings import Settings
from service.store import CALLS, OUTBOX, WAKE, WATCH, Committed, Loaded
from workers import context, jobs, pump as pump_module
from workers.pump import Pump, job_id
from workers.session import RunEntry, Session


@pytest.fixture
def pump(settings: Settings) -> Iterator[Pump]:
    ctx = context.build(dataclasses.replace(settings, outbox_lease_seconds=0.3, retention_seconds=60))
    yield Pump(ctx, Queue("callcue", connection=ctx.redis, serializer=JSONSerializer))
    ctx.close()


def start_job(session: Session, run: RunEntry) -> threading.Thread:
    """A job running ``session`` in a thread, as RQ runs one, once it takes entries."""
    job = threading.Thread(target=session.run, args=([], run, 30.0))
    job.start()
    deadline = time.monotonic() + 5
    while session.room() is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    return job


def test_due_entries_become_jobs_and_come_back_after_their_lease(pump: Pump, sync_redis: redis.Redis) -> None:
    now = time.time()
    sync_redis.zadd(
        OUTBOX, {"play:sq_00000000000000000001.0": int(now * 1000), "play:later.0": int(now * 1000) + 60_000}
    )
    assert pump.round(now).plays == 1
    assert pump.queue.job_ids == [job_id("play:sq_00000000000000000001.0")]
    assert pump.round(time.time()).plays == 0  # leased: nobody else takes it
    sync_redis.lpop(pump.queue.key)  # a worker took the job, then died
    time.sleep(0.35)
    assert pump.round(time.time()).plays == 1  # the job never removed it: the sweeper sends it again
    assert sync_redis.zscore(OUTBOX, "play:later.0") is not None


def test_a_running_job_takes_what_fits_and_the_rest_stays_due(
    pump: Pump, sync_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = Session(hold_limit=2)
    monkeypatch.setattr(pump_module, "SESSION", session)
    taken: list[str] = []
    release = threading.Event()

    def run(entry: str, loaded: Loaded | None) -> str:
        taken.append(entry)
        release.wait(5)
        return "ok"

    job = start_job(session, run)
    try:
        now = time.time()
        sync_redis.zadd(OUTBOX, {f"play:sq_0000000000000000000{i}.0": int(now * 1000) + i for i in range(3)})
        assert pump.round(now + 1).plays == 2  # handed to the running job: no RQ job
        assert pump.queue.job_ids == []
        assert pump.round(now + 1).plays == 0  # full: the third stays due in the outbox, unclaimed
        assert sync_redis.zscore(OUTBOX, "play:sq_00000000000000000002.0") == int(now * 1000) + 2
    finally:
        release.set()
        session.close()
        job.join(timeout=5)
    assert sorted(taken) == ["play:sq_00000000000000000000.0", "play:sq_00000000000000000001.0"]


def test_no_second_job_while_one_waits_to_start(pump: Pump, sync_redis: redis.Redis) -> None:
    now = time.time()
    sync_redis.zadd(OUTBOX, {"play:sq_00000000000000000001.0": int(now * 1000)})
    assert pump.round(now).plays == 1 and len(pump.queue.job_ids) == 1
    sync_redis.zadd(OUTBOX, {"play:sq_00000000000000000002.0": int(now * 1000)})
    time.sleep(0.06)
    # The first job has not started (no worker is free): the second entry stays due for it, or
    # for whichever job starts next, instead of queueing behind it in a job of its own.
    assert pump.round(time.time()).plays == 0 and pump.held_back
    assert sync_redis.zscore(OUTBOX, "play:sq_00000000000000000002.0") == int(now * 1000)
    sync_redis.lpop(pump.queue.key)  # a worker took it
    assert pump.round(time.time()).plays == 1 and not pump.held_back


def test_watchdog_entries_fire_once(pump: Pump, sync_redis: redis.Redis) -> None:
    sync_redis.zadd(WATCH, {"op:not-a-context": 0, "deadline:sq_unknown": 0})
    assert pump.round(time.time()).watched == 2
    assert sync_redis.zcard(WATCH) == 0


def test_the_call_index_is_trimmed_after_retention(pump: Pump, sync_redis: redis.Redis) -> None:
    now = time.time()
    sync_redis.zadd(CALLS, {"old-call": int((now - 120) * 1000), "new-call": int(now * 1000)})
    pump.trim(now)
    assert sync_redis.zrange(CALLS, 0, -1) == [b"new-call"]


def test_the_claim_reads_each_play_s_sequence_and_a_stale_read_sends_nothing(
    pump: Pump, sync_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = pump.ctx.store
    plan = Plan.from_json({"prompts": [{"audioFileUri": "http://127.0.0.1:9/a.wav"}]})
    now = time.time()
    seq, change = sequencer.create(None, [], "call-claim", "sq_0000000000000000000c", plan, now)
    assert store.commit(change, now) is Committed.OK
    sync_redis.zadd(OUTBOX, {"cancel:other": int(now * 1000)})

    session = Session()
    monkeypatch.setattr(pump_module, "SESSION", session)
    handed: dict[str, Loaded | None] = {}

    def run(entry: str, loaded: Loaded | None) -> str:
        handed[entry] = loaded
        return "ok"

    job = start_job(session, run)
    try:
        assert pump.round(time.time() + 1).plays == 2
    finally:
        session.close()
        job.join(timeout=5)
    entry = f"play:{seq.id}.0"
    assert set(handed) == {entry, "cancel:other"} and handed["cancel:other"] is None
    read = handed[entry]
    assert read is not None and read.seq is not None and read.seq.id == seq.id and read.call.active == seq.id
    assert read.seq.op(0) is not None

    # Canceled after the claim read it: the job starts from the stale read, the ledger's version
    # check sends it back to Redis, and nothing goes to ACS (which is unreachable here anyway).
    def cancel(loaded: Loaded) -> Change | None:
        assert loaded.seq is not None
        return sequencer.cancel(loaded.seq, loaded.call, loaded.related, time.time())

    store.transact(time.time, cancel, sid=seq.id)
    result, removed = jobs.play(pump.ctx, f"{seq.id}.0", read)
    assert result.startswith("skipped") and not removed
    fresh = store.load(seq.id)
    assert fresh is not None and fresh.seq is not None
    op = fresh.seq.op(0)
    assert op is not None and op.requested_at is None


def test_a_round_clears_the_nudges_it_answered_and_only_those(pump: Pump, sync_redis: redis.Redis) -> None:
    now = time.time()
    sync_redis.zadd(OUTBOX, {"play:sq_0000000000000000000a.0": int(now * 1000)})
    sync_redis.lpush(WAKE, "1", "1")
    assert pump.round(now).plays == 1
    assert sync_redis.llen(WAKE) == 0  # nothing due is left: no pump needs waking for it
    sync_redis.zadd(OUTBOX, {"play:sq_0000000000000000000b.0": int(now * 1000)})
    sync_redis.lpush(WAKE, "1")
    # The job just enqueued has not started, so this pump leaves the entry due: the nudge stays.
    assert pump.round(time.time()).plays == 0 and pump.held_back
    assert sync_redis.llen(WAKE) == 1
