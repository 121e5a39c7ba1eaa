"""Concurrent script calls share one pipeline, and each caller still gets its own answer or error
(real embedded Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio

from service.batching import MAX_BATCH, ScriptBatcher

ECHO = "if ARGV[1] == 'boom' then return redis.error_reply('boom') end return ARGV[1]"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    made = redis.asyncio.Redis.from_url(redis_url)
    yield made
    await made.aclose()


class CountingClient:
    """The real client, counting the pipelines it hands out."""

    def __init__(self, inner: redis.asyncio.Redis) -> None:
        self.inner = inner
        self.pipelines = 0

    def pipeline(self, transaction: bool = True) -> Any:
        self.pipelines += 1
        return self.inner.pipeline(transaction=transaction)


async def test_calls_of_one_loop_turn_share_a_pipeline(client: redis.asyncio.Redis) -> None:
    counting = CountingClient(client)
    batcher = ScriptBatcher(counting)  # type: ignore[arg-type]
    script = client.register_script(ECHO)
    await client.script_load(ECHO)
    replies = await asyncio.gather(*(batcher.run(script, [f"v{i}"]) for i in range(10)))
    assert replies == [f"v{i}".encode() for i in range(10)]
    assert counting.pipelines == 1


async def test_a_large_burst_is_split_into_bounded_pipelines(client: redis.asyncio.Redis) -> None:
    counting = CountingClient(client)
    batcher = ScriptBatcher(counting)  # type: ignore[arg-type]
    script = client.register_script(ECHO)
    await client.script_load(ECHO)
    n = MAX_BATCH * 2 + 1
    replies = await asyncio.gather(*(batcher.run(script, [str(i)]) for i in range(n)))
    assert replies == [str(i).encode() for i in range(n)]
    assert counting.pipelines == 2  # 64 + 64 in pipelines, the last one alone


async def test_an_error_reaches_only_its_caller(client: redis.asyncio.Redis) -> None:
    batcher = ScriptBatcher(client)
    script = client.register_script(ECHO)
    await client.script_load(ECHO)
    results = await asyncio.gather(
        batcher.run(script, ["a"]), batcher.run(script, ["boom"]), batcher.run(script, ["c"]), return_exceptions=True
    )
    assert results[0] == b"a" and results[2] == b"c"
    assert isinstance(results[1], redis.ResponseError) and "boom" in str(results[1])


async def test_a_flushed_script_cache_is_reloaded(client: redis.asyncio.Redis) -> None:
    batcher = ScriptBatcher(client)
    script = client.register_script(ECHO)
    await client.script_load(ECHO)
    await client.script_flush()  # as after a Redis restart
    replies = await asyncio.gather(*(batcher.run(script, [f"x{i}"]) for i in range(5)))
    assert replies == [f"x{i}".encode() for i in range(5)]


async def test_redis_away_fails_every_caller() -> None:
    gone = redis.asyncio.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.5)
    batcher = ScriptBatcher(gone)
    script = gone.register_script(ECHO)
    results = await asyncio.gather(*(batcher.run(script, ["a"]) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, redis.ConnectionError) for r in results)
    await gone.aclose()
