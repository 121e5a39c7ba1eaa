"""The pump against real Redis and a real RQ queue: leases, the sweeper, the watchdog, trimming."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from service.settings import Settings
from service.store import CALLS, OUTBOX, WATCH
from workers import context
from workers.pump import Pump, job_id


@pytest.fixture
def pump(settings: Settings) -> Iterator[Pump]:
    ctx = context.build(dataclasses.replace(settings, outbox_lease_seconds=0.3, retention_seconds=60))
    yield Pump(ctx, Queue("callcue", connection=ctx.redis, serializer=JSONSerializer))
    ctx.close()


def test_due_entries_become_jobs_and_come_back_after_their_lease(pump: Pump, sync_redis: redis.Redis) -> None:
    now = time.time()
    sync_redis.zadd(
        OUTBOX, {"play:sq_00000000000000000001.0": int(now * 1000), "play:later.0": int(now * 1000) + 60_000}
    )
    assert pump.dispatch(now) == 1
    assert pump.queue.job_ids == [job_id("play:sq_00000000000000000001.0")]
    assert pump.dispatch(time.time()) == 0  # leased: nobody else takes it
    time.sleep(0.35)
    assert pump.dispatch(time.time()) == 1  # the job never removed it: the sweeper sends it again
    assert sync_redis.zscore(OUTBOX, "play:later.0") is not None


def test_watchdog_entries_fire_once(pump: Pump, sync_redis: redis.Redis) -> None:
    sync_redis.zadd(WATCH, {"op:not-a-context": 0, "deadline:sq_unknown": 0})
    assert pump.watchdog(time.time()) == 2
    assert sync_redis.zcard(WATCH) == 0


def test_the_call_index_is_trimmed_after_retention(pump: Pump, sync_redis: redis.Redis) -> None:
    now = time.time()
    sync_redis.zadd(CALLS, {"old-call": int((now - 120) * 1000), "new-call": int(now * 1000)})
    pump.trim(now)
    assert sync_redis.zrange(CALLS, 0, -1) == [b"new-call"]
