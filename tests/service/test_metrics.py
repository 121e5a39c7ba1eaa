"""GET /metrics in-process: the gauges read Redis and RQ as they are."""

from __future__ import annotations

import time

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue
from rq.serializers import JSONSerializer


def samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


async def test_queue_gauges_follow_rq(api: httpx.AsyncClient, sync_redis: redis.Redis) -> None:
    before = samples((await api.get("/metrics")).text)
    assert before["callcue_queue_depth"] == 0
    queue = Queue("callcue", connection=sync_redis, serializer=JSONSerializer)
    queue.enqueue("workers.jobs.run_entry", "play:sq_00000000000000000000.0")
    time.sleep(0.05)
    after = samples((await api.get("/metrics")).text)
    assert after["callcue_queue_depth"] == 1
    assert after["callcue_queue_oldest_job_age_seconds"] > 0


async def test_refused_callbacks_and_receiver_latency(api: httpx.AsyncClient) -> None:
    before = samples((await api.get("/metrics")).text)
    await api.post("/callbacks/acs?secret=wrong", content=b"[]")
    await api.post("/callbacks/acs?secret=test-callback-secret", content=b"[1]")
    after = samples((await api.get("/metrics")).text)
    for reason in ("unauthenticated", "malformed_event"):
        key = f"callcue_callbacks_refused_total{{reason={reason}}}"
        assert after[key] - before.get(key, 0) >= 1
    assert after["callcue_receiver_seconds_count"] - before.get("callcue_receiver_seconds_count", 0) >= 2
