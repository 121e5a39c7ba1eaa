"""Script calls of concurrent requests, sent to Redis together: one round trip for many.

Under load the web process has many callbacks in flight, and redis-py's cost per command
(connection checkout, retry wrapper, send, parse) is the largest part of a callback's CPU
(docs/PERFORMANCE.md). The calls made during one turn of the event loop are queued and sent as
one pipeline. Not a transaction: each script is atomic by itself and a commit checks the versions
its caller read, so sending several together decides nothing differently from sending them one by
one. At low load a batch is a single call, which waits only for the end of the loop's turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import redis
import redis.asyncio
from redis.commands.core import AsyncScript

MAX_BATCH = 64  # calls per pipeline: bounds the size of one request to Redis and of its answer


class ScriptBatcher:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self._pending: list[tuple[AsyncScript, list[Any], asyncio.Future[Any]]] = []
        self._tasks: set[asyncio.Task[None]] = set()  # in flight; kept so that none is collected

    async def run(self, script: AsyncScript, args: list[Any]) -> Any:
        """The script's reply, as ``await script(args=args)`` gives it; raises redis.RedisError as it does."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append((script, args, future))
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        for start in range(0, len(batch), MAX_BATCH):
            task = asyncio.create_task(self._send(batch[start : start + MAX_BATCH]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[tuple[AsyncScript, list[Any], asyncio.Future[Any]]]) -> None:
        try:
            await self._send_batch(batch)
        except Exception as exc:  # whatever went wrong, no caller is left waiting
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)

    async def _send_batch(self, batch: list[tuple[AsyncScript, list[Any], asyncio.Future[Any]]]) -> None:
        if len(batch) == 1:  # no pipeline for one call: the script object also reloads itself
            script, args, future = batch[0]
            await _settle(future, script(args=args))
            return
        pipe = self.client.pipeline(transaction=False)
        for script, args, _ in batch:
            pipe.evalsha(script.sha, 0, *args)
        replies = await pipe.execute(raise_on_error=False)
        for (script, args, future), reply in zip(batch, replies, strict=True):
            if isinstance(reply, redis.exceptions.NoScriptError):
                # Redis restarted and lost its script cache: the script object loads it again.
                await _settle(future, script(args=args))
            elif isinstance(reply, Exception):
                if not future.done():
                    future.set_exception(reply)
            elif not future.done():
                future.set_result(reply)


async def _settle(future: asyncio.Future[Any], call: Awaitable[Any]) -> None:
    try:
        reply = await call
    except Exception as exc:
        if not future.done():
            future.set_exception(exc)
        return
    if not future.done():
        future.set_result(reply)
