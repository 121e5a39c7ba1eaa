"""Many calls at once: every play is answered and every callback delivered (not a timed test)."""

from __future__ import annotations

import asyncio

from tests.emulator.conftest import EmulatorHandle
from tests.emulator.support import AudioServer, CallbackReceiver

CALLS = 200


async def test_hundreds_of_concurrent_calls_each_get_their_callbacks(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    uri = f"{audio.url}/long.wav"

    async def call(n: int) -> int:
        response = await emu.acs.play(
            f"scale-{n}", [uri], operation_context=f"op-{n}", callback=receiver.url, cache_id="long"
        )
        return response.status_code

    statuses = await asyncio.gather(*(call(n) for n in range(CALLS)))
    assert statuses == [202] * CALLS
    received = await receiver.wait_count(2 * CALLS, timeout=30)
    completed = {r.event["data"]["operationContext"] for r in received if r.type == "PlayCompleted"}
    assert completed == {f"op-{n}" for n in range(CALLS)}
    assert audio.hits["/long.wav"] == 1  # one shared download for the cache id
