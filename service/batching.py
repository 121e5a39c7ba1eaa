"""Script calls of concurrent requests, sent to Redis together: one round trip for many.

Under load the web process has many callbacks in flight, and a client library's cost per command
(connection checkout, retry wrapper, encoding, bookkeeping, parsing) is a large part of a
callback's CPU (docs/PERFORMANCE.md). The calls made during one turn of the event loop are packed
into writes of EVALSHA commands (``MAX_BATCH`` each) and their replies read back in order. Not a
transaction: each script is atomic by itself and a commit checks the versions its caller read, so
sending several together decides nothing differently from sending them one by one. At low load a
batch is a single call, which waits only for the end of the loop's turn.

A batch is written as soon as it is full, or at the end of the turn, on a connection that is ready
(connected, and back from its last batch moments ago) without waiting for another turn of the loop:
a task that would write it starts only on the next turn, and under load a turn is long, so Redis
sat idle meanwhile (docs/PERFORMANCE.md, round 7). A task reads the replies. Only when no connection
is ready does the task connect, or check an idle one, before writing.

The batcher writes on connections of its own, made by the client's pool with the client's settings
(address, TLS, timeouts, credentials) but kept out of it: a batch needs neither the pool's checkout
nor redis-py's pipeline bookkeeping, only the connection's stream and its reply parser (hiredis).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import hiredis
import redis
import redis.asyncio
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript

# Calls per write. Not one write for a whole loop turn: Redis runs a write's scripts one after the
# other, and with smaller writes it starts on the first while the web packs the next, and the first
# answers come back sooner (16 against 64: ingest 0.165 -> 0.236 of the bare endpoint, and less CPU
# per callback; docs/PERFORMANCE.md, round 6).
MAX_BATCH = 16

# A connection Redis closed while it sat idle (a restart, the server's idle timeout) would fail the
# batch written on it, so it is checked before use; but the check costs a turn of the event loop
# before the write, so only a connection idle for longer than this is checked. Under load the
# connections are back in use within milliseconds.
IDLE_CHECK_AFTER = 0.5

Pending = tuple[AsyncScript, list[Any], "asyncio.Future[Any]"]


def pack_evalsha(sha: str, args: list[Any]) -> bytes:
    """``EVALSHA sha 0 args...`` in RESP (hiredis packs it, in C): scripts here take no KEYS (they
    name their keys themselves)."""
    packed: bytes = hiredis.pack_command(("EVALSHA", sha, 0, *args))
    return packed


def _packed(batch: list[Pending]) -> bytes:
    return b"".join(pack_evalsha(script.sha, args) for script, args, _ in batch)


class ScriptBatcher:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.round_trips = 0  # batches written so far (for tests and benchmarks)
        self._pending: list[Pending] = []
        self._idle: list[tuple[AbstractConnection, float]] = []  # and since when (loop time)
        self._tasks: set[asyncio.Task[None]] = set()  # in flight; kept so that none is collected

    async def run(self, script: AsyncScript, args: list[Any]) -> Any:
        """The script's reply, as ``await script(args=args)`` gives it; raises redis.RedisError as it does."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((script, args, future))
        if len(self._pending) == MAX_BATCH:
            self._flush()  # full: it leaves now (the flush already scheduled takes what follows)
        return await future

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            await connection.disconnect()

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        for start in range(0, len(batch), MAX_BATCH):
            part = batch[start : start + MAX_BATCH]
            connection = self._ready()
            if connection is not None and not self._write(connection, part):
                self._idle.append((connection, -math.inf))  # the task checks it before writing
                connection = None
            task = asyncio.create_task(self._send(part, connection))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _ready(self) -> AbstractConnection | None:
        """An idle connection to write on right away: connected, and back from a batch moments ago
        (so neither the idle check nor redis-py's health check is due)."""
        if not self._idle:
            return None
        connection, since = self._idle[-1]
        if not connection.is_connected or asyncio.get_running_loop().time() - since > IDLE_CHECK_AFTER:
            return None
        self._idle.pop()
        return connection

    def _write(self, connection: AbstractConnection, batch: list[Pending]) -> bool:
        """Write on the connection's stream without waiting: what send_packed_command does after its
        health check, minus waiting for the buffer to drain (a batch is a few KB). A connection that
        failed since its last batch fails this batch's read, as any failure does."""
        writer = connection._writer  # redis-py's own stream writer (no public synchronous write)
        if writer is None:
            return False
        try:
            writer.write(_packed(batch))
        except Exception:  # whatever it is, the task path connects afresh
            return False
        self.round_trips += 1
        return True

    async def _send(self, batch: list[Pending], written_on: AbstractConnection | None) -> None:
        try:
            replies = await self._round_trip(batch, written_on)
            for (script, args, future), reply in zip(batch, replies, strict=True):
                if isinstance(reply, redis.exceptions.NoScriptError):
                    # Redis restarted and lost its script cache: the script object loads it again.
                    try:
                        reply = await script(args=args)
                    except Exception as exc:
                        reply = exc
                if future.done():
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except Exception as exc:  # whatever went wrong, no caller is left waiting
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)

    async def _round_trip(self, batch: list[Pending], written_on: AbstractConnection | None) -> list[Any]:
        loop = asyncio.get_running_loop()
        if written_on is not None:
            connection = written_on
        elif self._idle:
            connection, since = self._idle.pop()
        else:
            connection, since = self.client.connection_pool.make_connection(), math.inf  # type: ignore[no-untyped-call]
        try:
            if written_on is None:
                if connection.is_connected and loop.time() - since > IDLE_CHECK_AFTER and await connection.can_read():
                    await connection.disconnect()  # closed by Redis while idle: start afresh
                await connection.send_packed_command(_packed(batch))
                self.round_trips += 1
            replies: list[Any] = []
            # One deadline for the whole batch rather than one per reply (the connection's own).
            async with asyncio.timeout(connection.socket_timeout):
                for _ in batch:
                    try:
                        replies.append(await connection.read_response(timeout=math.inf))
                    except redis.ResponseError as exc:  # an error reply answers its own call only
                        replies.append(exc)
            return replies
        except BaseException:
            await connection.disconnect()  # unread replies would answer the next batch's calls
            raise
        finally:
            self._idle.append((connection, loop.time()))
