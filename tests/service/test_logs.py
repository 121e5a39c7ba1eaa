"""Log lines carry the ids bound around them, and only while the block runs."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from service.logs import JsonFormatter, bind


def line(message: str) -> dict[str, object]:
    record = logging.LogRecord("callcue.test", logging.INFO, __file__, 1, message, None, None)
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


def test_nested_blocks_add_ids_and_each_exit_restores_the_outer_ones() -> None:
    with bind(callConnectionId="call-1", operationContext=None):  # None: not carried
        assert line("a")["callConnectionId"] == "call-1" and "operationContext" not in line("a")
        with bind(operationContext="sq_1.0", callConnectionId="call-2"):
            inner = line("b")
            assert (inner["callConnectionId"], inner["operationContext"]) == ("call-2", "sq_1.0")
        assert line("c")["callConnectionId"] == "call-1" and "operationContext" not in line("c")
    assert "callConnectionId" not in line("d")


def test_an_exception_leaves_the_block_and_its_ids() -> None:
    with pytest.raises(RuntimeError), bind(sequenceId="sq_2"):
        raise RuntimeError("boom")
    assert "sequenceId" not in line("after")


async def test_concurrent_tasks_see_only_their_own_ids() -> None:
    async def one(call: str) -> object:
        with bind(callConnectionId=call):
            await asyncio.sleep(0)  # the other task runs in between
            return line("x")["callConnectionId"]

    assert list(await asyncio.gather(one("a"), one("b"))) == ["a", "b"]
