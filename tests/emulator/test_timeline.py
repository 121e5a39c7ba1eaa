"""The per-call timeline and the emulator's own control routes."""

from __future__ import annotations

import asyncio

from tests.emulator.conftest import EmulatorHandle
from tests.emulator.support import AudioServer, CallbackReceiver


async def test_a_call_s_timeline_tells_what_arrived_and_what_was_sent(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    callback = f"{receiver.url}/acs/cb?secret=do-not-log"
    # One step at a time, so that the order of the entries is fixed.
    await emu.acs.play("tl-1", [f"{audio.url}/short.wav"], operation_context="one", callback=callback)
    await receiver.wait_count(2)
    await emu.acs.play("tl-1", [f"{audio.url}/long.wav"], operation_context="two", loop=True)
    await receiver.wait_count(3)
    await emu.acs.cancel("tl-1")
    await receiver.wait_count(4)
    await emu.acs.hangup("tl-1")
    await receiver.wait_count(5)
    await asyncio.sleep(0.05)  # the last callback's answer is recorded just after it arrives

    entries = await emu.timeline("tl-1")
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    summary = [
        (e["kind"], e.get("operationContext"), e.get("eventType", "").removeprefix("Microsoft.Communication."))
        for e in entries
    ]
    assert summary == [
        ("playRequest", "one", ""),
        ("playStarted", "one", ""),
        ("callback", "one", "PlayStarted"),
        ("playEnded", "one", ""),
        ("callback", "one", "PlayCompleted"),
        ("playRequest", "two", ""),
        ("playStarted", "two", ""),
        ("callback", "two", "PlayStarted"),
        ("cancel", None, ""),
        ("playEnded", "two", ""),
        ("callback", "two", "PlayCanceled"),
        ("hangup", None, ""),
        ("callback", None, "CallDisconnected"),
    ]

    request = entries[0]
    assert request["audioFileUri"] == f"{audio.url}/short.wav"
    assert request["callbackUri"] == f"{receiver.url}/acs/cb?redacted"
    assert request["apiVersion"] == "2024-09-15" and request["loop"] is False and request["operationId"]
    completed = next(e for e in entries if e.get("eventType") == "Microsoft.Communication.PlayCompleted")
    assert completed["httpStatus"] == 200 and completed["attempt"] == 1
    assert (completed["code"], completed["subcode"]) == (200, 0)
    assert "secret" not in str(entries)
    canceled = next(e for e in entries if e.get("eventType") == "Microsoft.Communication.PlayCanceled")
    assert (canceled["code"], canceled["subcode"]) == (400, 8508)


async def test_preview_callbacks_record_their_status(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.acs.play_audio(
        "tl-p", audioFileUri=f"{audio.url}/short.wav", operationContext="p", callbackUri=receiver.url
    )
    await receiver.wait_count(1)
    await asyncio.sleep(0.05)
    (callback,) = [e for e in await emu.timeline("tl-p") if e["kind"] == "callback"]
    assert callback["status"] == "completed" and callback["eventType"] == "Microsoft.Communication.PlayAudioResult"


async def test_calls_healthz_and_reset(emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver) -> None:
    await emu.acs.play("tl-a", [f"{audio.url}/long.wav"], operation_context="a", callback=receiver.url, loop=True)
    await emu.acs.play("tl-b", [f"{audio.url}/short.wav"], operation_context="b", callback=receiver.url)
    await emu.acs.hangup("tl-b")
    await emu.add_fault(kind="drop", times=None)

    calls = {c["callConnectionId"]: c for c in (await emu.control.get("/emulator/calls")).json()["calls"]}
    assert calls["tl-a"]["state"] == "connected" and calls["tl-a"]["playing"] == "a"
    assert calls["tl-b"]["state"] == "disconnected"
    health = (await emu.control.get("/emulator/healthz")).json()
    assert health["status"] == "ok" and health["calls"] == 2

    assert (await emu.control.post("/emulator/reset")).status_code == 204
    assert (await emu.control.get("/emulator/calls")).json() == {"calls": []}
    assert (await emu.control.get("/emulator/faults")).json() == {"faults": []}
    missing = await emu.control.get("/emulator/calls/tl-a/timeline")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "404"
    # A hung-up call is forgotten too: it is live again.
    assert (await emu.acs.play("tl-b", [f"{audio.url}/short.wav"], callback=receiver.url)).status_code == 202


async def test_unknown_paths_answer_with_the_acs_error_body(emu: EmulatorHandle) -> None:
    response = await emu.control.get("/nothing/here")
    assert response.status_code == 404 and response.json()["error"]["code"] == "404"
