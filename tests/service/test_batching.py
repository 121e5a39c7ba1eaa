"""Concurrent script calls share one pipeline, and each caller still gets its own answer or error
(real embedded Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio
from redis.asyncio.connection import AbstractConnection

from service import batching
from service.batching import MAX_BATCH, ScriptBatcher

ECHO = "if ARGV[1] == 'boom' then return redis.error_reply('boom') end return ARGV[1]"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    made = redis.asyncio.Redis.from_url(redis_url)
    yield made
    await made.aclose()


@pytest.fixture
async def batcher(client: redis.asyncio.Redis) -> AsyncIterator[ScriptBatcher]:
    made = ScriptBatcher(client)
    yield made
    await made.aclose()


async def test_calls_of_one_loop_turn_share_a_round_trip(client: redis.asyncio.Redis, batcher: ScriptBatcher) -> None:
    script = client.register_script(ECHO)
    await client.script_load(ECHO)
    replies = await asyncio.gather(*(batcher.run(script, [f"v{i}"]) for i in range(10)))
    assert replies == [f"v{i}".encode() for i in range(10)]
    assert batcher.round_trips == 1


async def test_a_full_batch_is_written_during_the_turn_that_fills_it(
    client: redis.asyncio.Redis, batcher: ScriptBatcher
) -> None:
    script = client.register_script(ECHO)
    await client.script_load(ECHO)
    # Two connections, back and ready (a full batch and one more call).
    assert await asyncio.gather(*(batcher.run(script, ["warm"]) for _ in range(MAX_BATCH + 1))) == [b"warm"] * (
        MAX_BATCH + 1
    )
    before = batcher.round_trips
    calls = [asyncio.ensure_future(batcher.run(script, [str(i)])) for i in range(MAX_BATCH + 3)]
    await asyncio.sleep(0)  # one turn: every call made, the first MAX_BATCH already written
    assert batcher.round_trips == before + 1
    await asyncio.sleep(0)  # the end-of-turn flush: the other three, on the other connection
    assert batcher.round_trips == before + 2
    assert await asyncio.gather(*calls) == [str(i).encode() for i in range(MAX_BATCH + 3)]


async def test_a_large_burst_is_split_into_bounded_batches(client: redis.asyncio.Redis, batcher: ScriptBatcher) -> None:
    script = client.register_script(ECHO)
    await client.script_load(ECHO)
    n = MAX_BATCH * 2 + 1
    replies = await asyncio.gather(*(batcher.run(script, [str(i)]) for i in range(n)))
    assert replies == [str(i).encode() for i in range(n)]
    assert batcher.round_trips == 3  # two full batches and one of a single call


async def test_arguments_of_every_kind_arrive_as_sent(client: redis.asyncio.Redis, batcher: ScriptBatcher) -> None:
    script = client.register_script("return ARGV")
    await client.script_load("return ARGV")
    args = ["text é", b"\x00\r\n bytes", 42, 1.5, ""]
    assert await batcher.run(script, args) == ["text é".encode(), b"\x00\r\n bytes", b"42", b"1.5", b""]


async def test_a_connection_closed_by_redis_while_idle_is_replaced(
    client: redis.asyncio.Redis, batcher: ScriptBatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batching, "IDLE_CHECK_AFTER", 0.02)
    script = client.register_script(ECHO)
    await client.script_load(ECHO)
    assert await batcher.run(script, ["before"]) == b"before"
    await client.client_kill_filter(_type="normal", skipme=True)  # every other client, the batcher's included
    await asyncio.sleep(0.05)
    assert await batcher.run(script, ["after"]) == b"after"


async def test_a_connection_back_in_use_at_once_is_not_checked(
    client: redis.asyncio.Redis, batcher: ScriptBatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check costs a turn of the loop before the write: under load it is skipped.
    checks: list[object] = []
    can_read = AbstractConnection.can_read

    async def counted(self: AbstractConnection) -> bool:
        checks.append(self)
        return await can_read(self)

    script = client.register_script(ECHO)
    await client.script_load(ECHO)
    monkeypatch.setattr(AbstractConnection, "can_read", counted)
    for i in range(5):
        assert await batcher.run(script, [str(i)]) == str(i).encode()
    assert checks == []
    monkeypatch.setattr(batching, "IDLE_CHECK_AFTER", 0.0)
    assert await batcher.run(script, ["idle"]) == b"idle"
    assert len(checks) == 1


async def test_an_error_reaches_only_its_caller(client: redis.asyncio.Redis, batcher: ScriptBatcher) -> None:
    script = client.register_script(ECHO)
    await client.script_load(ECHO)
    results = await asyncio.gather(
        batcher.run(script, ["a"]), batcher.run(script, ["boom"]), batcher.run(script, ["c"]), return_exceptions=True
    )
    assert results[0] == b"a" and results[2] == b"c"
    assert isinstance(results[1], redis.ResponseError) and "boom" in str(results[1])


async def test_a_flushed_script_cache_is_reloaded(client: redis.asyncio.Redis, batcher: ScriptBatcher) -> None:
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
