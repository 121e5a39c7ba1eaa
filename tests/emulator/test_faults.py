"""Every fault kind, observed from the outside: at the receiver, in HTTP answers, on the timeline."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest

from emulator.faults import FaultBook
from tests.emulator.conftest import EmulatorHandle
from tests.emulator.support import AudioServer, CallbackReceiver
from tests.emulator.test_ga import verify_token


async def _preview_play(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver, call: str, ctx: str
) -> Any:
    return await emu.acs.play_audio(
        call, audioFileUri=f"{audio.url}/short.wav", operationContext=ctx, callbackUri=receiver.url
    )


async def test_duplicate_sends_the_same_event_copies_times(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.add_fault(kind="duplicate", copies=3)
    await _preview_play(emu, audio, receiver, "f-dup", "dup")
    received = await receiver.wait_count(3)
    assert len({r.event["id"] for r in received}) == 1
    await _preview_play(emu, audio, receiver, "f-dup", "once")  # times defaults to 1
    assert len(await receiver.settle(0.2)) == 4
    copies = [e["copy"] for e in await emu.timeline("f-dup") if e["kind"] == "callback" and "copy" in e]
    assert copies == [1, 2, 3]


async def test_drop_never_sends_the_callback(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.add_fault(kind="drop", callConnectionId="f-drop")
    await _preview_play(emu, audio, receiver, "f-drop", "lost")
    await _preview_play(emu, audio, receiver, "f-drop", "kept")
    await receiver.wait_count(1)
    assert [r.event["data"]["operationContext"] for r in await receiver.settle(0.1)] == ["kept"]
    kinds = [(e["kind"], e.get("operationContext")) for e in await emu.timeline("f-drop")]
    assert ("callbackDropped", "lost") in kinds


async def test_delay_holds_the_callback(emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver) -> None:
    await emu.add_fault(kind="delay", delayMs=400)
    await _preview_play(emu, audio, receiver, "f-delay", "late")
    (callback,) = await receiver.wait_count(1)
    ended = next(e["at"] for e in await emu.timeline("f-delay") if e["kind"] == "playEnded")
    assert callback.at - ended >= 0.39


async def test_reorder_can_put_play_completed_before_play_started(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.add_fault(kind="reorder", eventType="PlayStarted")
    await emu.acs.play("f-re", [f"{audio.url}/short.wav"], operation_context="op", callback=receiver.url)
    received = await receiver.wait_count(2)
    assert [r.type for r in received] == ["PlayCompleted", "PlayStarted"]


async def test_a_held_callback_goes_out_after_hold_ms_when_nothing_follows(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.add_fault(kind="reorder", holdMs=300)
    sent = time.monotonic()
    await _preview_play(emu, audio, receiver, "f-hold", "alone")
    await receiver.wait_count(1)
    assert time.monotonic() - sent >= 0.3


@pytest.mark.parametrize("dialect", ["preview", "ga"])
async def test_early_callback_arrives_before_the_play_is_answered(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver, dialect: str
) -> None:
    await emu.add_fault(kind="earlyCallback")
    if dialect == "preview":
        response = await _preview_play(emu, audio, receiver, "f-early", "early")
    else:
        response = await emu.acs.play(
            "f-early", [f"{audio.url}/short.wav"], operation_context="early", callback=receiver.url
        )
    answered = time.time()
    assert response.status_code == 202
    assert receiver.received, "the result callback must already have arrived"
    assert receiver.received[-1].at <= answered
    assert receiver.received[-1].type in ("PlayAudioResult", "PlayCompleted")


async def test_http_status_refuses_the_play_with_retry_after(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.add_fault(kind="httpStatus", status=429, retryAfter=2)
    refused = await _preview_play(emu, audio, receiver, "f-429", "throttled")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "2" and refused.headers["retry-after-ms"] == "2000"
    assert refused.json()["error"]["code"] == "429"
    assert await receiver.settle(0.2) == []  # not performed
    assert (await _preview_play(emu, audio, receiver, "f-429", "retried")).status_code == 202
    await receiver.wait_count(1)
    kinds = [e["kind"] for e in await emu.timeline("f-429")]
    assert kinds[0] == "playRejected" and "playRequest" in kinds


@pytest.mark.parametrize("status", [500, 503])
async def test_http_status_5xx(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver, status: int
) -> None:
    await emu.add_fault(kind="httpStatus", status=status, times=2)
    for _ in range(2):
        response = await emu.acs.play("f-5xx", [f"{audio.url}/short.wav"], callback=receiver.url)
        assert response.status_code == status and "retry-after" not in response.headers
    assert (await emu.acs.play("f-5xx", [f"{audio.url}/short.wav"], callback=receiver.url)).status_code == 202


async def test_slow_response_delays_the_answer_but_plays(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.add_fault(kind="slowResponse", delayMs=300)
    sent = time.monotonic()
    response = await emu.acs.play("f-slow", [f"{audio.url}/short.wav"], operation_context="slow", callback=receiver.url)
    assert response.status_code == 202
    assert time.monotonic() - sent >= 0.3
    await receiver.wait_count(2)


async def test_a_rule_for_one_call_leaves_others_alone(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.add_fault(kind="httpStatus", status=503, callConnectionId="f-target", times=None)
    assert (await _preview_play(emu, audio, receiver, "f-other", "ok")).status_code == 202
    for _ in range(3):
        assert (await _preview_play(emu, audio, receiver, "f-target", "no")).status_code == 503


async def test_each_jwt_fault_makes_a_token_a_correct_verifier_refuses(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    refusals: dict[str, type[Exception]] = {
        "jwtExpired": jwt.ExpiredSignatureError,
        "jwtWrongAudience": jwt.InvalidAudienceError,
        "jwtWrongIssuer": jwt.InvalidIssuerError,
        "jwtUnknownKid": jwt.PyJWKClientError,
        "jwtBadSignature": jwt.InvalidSignatureError,
    }
    for kind in refusals:
        await emu.add_fault(kind=kind, callConnectionId=f"f-{kind}", eventType="PlayCompleted")
        await emu.acs.play(f"f-{kind}", [f"{audio.url}/short.wav"], operation_context=kind, callback=receiver.url)
    await receiver.wait_count(2 * len(refusals))
    for kind, error in refusals.items():
        started, completed = receiver.for_context(kind)
        assert (started.type, completed.type) == ("PlayStarted", "PlayCompleted")
        await verify_token(emu, started.headers["authorization"].removeprefix("Bearer "))
        with pytest.raises(error):
            await verify_token(emu, completed.headers["authorization"].removeprefix("Bearer "))


async def test_jwt_faults_do_not_fire_on_preview_callbacks(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.add_fault(kind="jwtExpired")
    await _preview_play(emu, audio, receiver, "f-pj", "preview")
    await receiver.wait_count(1)
    (rule,) = (await emu.control.get("/emulator/faults")).json()["faults"]
    assert rule["remaining"] == 1 and rule["matched"] == 0


# -- delivery retries ------------------------------------------------------------------------------


async def test_a_failed_delivery_is_retried_and_every_attempt_recorded(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    receiver.statuses.extend([500, 503])
    await _preview_play(emu, audio, receiver, "f-retry", "retry")
    await receiver.wait_count(3)
    attempts = [(e["attempt"], e["httpStatus"]) for e in await emu.timeline("f-retry") if e["kind"] == "callback"]
    assert attempts == [(1, 500), (2, 503), (3, 200)]


async def test_delivery_gives_up_after_the_retries_and_moves_on(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    receiver.statuses.extend([500] * 4)
    await _preview_play(emu, audio, receiver, "f-give-up", "doomed")
    await _preview_play(emu, audio, receiver, "f-give-up", "next")
    received = await receiver.wait_count(5)
    assert [r.event["data"]["operationContext"] for r in received] == ["doomed"] * 4 + ["next"]


async def test_a_connection_error_is_recorded_and_retried(emu: EmulatorHandle, audio: AudioServer) -> None:
    await emu.acs.play_audio(
        "f-refused", audioFileUri=f"{audio.url}/short.wav", operationContext="x", callbackUri="http://127.0.0.1:9/cb"
    )
    for _ in range(100):
        attempts = [e for e in await emu.timeline("f-refused") if e["kind"] == "callback"]
        if len(attempts) == 4:
            break
        await asyncio.sleep(0.05)
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert all("ConnectError" in a["error"] and "httpStatus" not in a for a in attempts)


# -- the fault API --------------------------------------------------------------------------------


async def test_faults_are_listed_removed_and_cleared(emu: EmulatorHandle) -> None:
    first = await emu.add_fault(kind="delay", delayMs=10, times=None, probability=0.5)
    await emu.add_fault(kind="httpStatus", status=429, retryAfter=1)
    listed = (await emu.control.get("/emulator/faults")).json()["faults"]
    assert [rule["kind"] for rule in listed] == ["delay", "httpStatus"]
    assert listed[0] == {**first, "remaining": None, "probability": 0.5, "delayMs": 10, "matched": 0}
    assert (await emu.control.delete(f"/emulator/faults/{first['id']}")).status_code == 204
    assert (await emu.control.delete(f"/emulator/faults/{first['id']}")).status_code == 404
    assert (await emu.control.delete("/emulator/faults")).status_code == 204
    assert (await emu.control.get("/emulator/faults")).json() == {"faults": []}


async def test_a_bad_rule_is_400(emu: EmulatorHandle) -> None:
    for rule in (
        {"kind": "explode"},
        {"kind": "delay"},
        {"kind": "drop", "copies": 2},
        {"kind": "httpStatus", "status": 200},
        {"kind": "drop", "times": 0},
        {"kind": "drop", "probability": 1.5},
        {"kind": "slowResponse", "delayMs": 5, "eventType": "PlayStarted"},
        ["not", "an", "object"],
    ):
        response = await emu.control.post("/emulator/faults", json=rule)
        assert response.status_code == 400, rule
        assert response.json()["error"]["message"]


def test_probability_is_seeded_and_roughly_kept() -> None:
    def fired(seed: int) -> list[bool]:
        book = FaultBook(seed)
        book.add({"kind": "drop", "times": None, "probability": 0.1})
        return [bool(book.take({"drop"}, f"call-{n}")) for n in range(2000)]

    first = fired(7)
    assert first == fired(7)
    assert 150 <= sum(first) <= 250


async def test_seeded_faults_hit_a_share_of_callbacks(
    start_emulator: Any, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    emu: EmulatorHandle = await start_emulator(seed=3)
    await emu.add_fault(kind="drop", times=None, probability=0.5)
    for n in range(20):
        await _preview_play(emu, audio, receiver, f"f-soak-{n}", "soak")
    (rule,) = emu.emulator.faults.rules()
    # Every play ends either dropped (counted by the rule) or delivered.
    await receiver.wait_for(lambda received: len(received) + rule.matched == 20)
    assert 0 < rule.matched < 20
