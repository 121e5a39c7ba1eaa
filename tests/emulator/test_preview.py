"""The 2021-08-30-preview dialect: /:playAudio, /:cancelAllMediaOperations, /:hangup."""

from __future__ import annotations

import time

from tests.emulator.conftest import SPEED, EmulatorHandle
from tests.emulator.support import GA, AudioServer, CallbackReceiver, make_wav


def _result(received: CallbackReceiver, index: int) -> tuple[int, int, str]:
    data = received.received[index].event["data"]
    return data["resultInfo"]["code"], data["resultInfo"]["subcode"], data["status"]


async def test_a_valid_wav_completes_after_its_duration_divided_by_speed(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    sent = time.monotonic()
    response = await emu.acs.play_audio(
        "pv-1",
        audioFileUri=f"{audio.url}/long.wav",
        loop=False,
        operationContext="op-1",
        audioFileId="long-v1",
        callbackUri=f"{receiver.url}/acs/callback?secret=s3cr3t",
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "running"
    assert body["operationContext"] == "op-1"
    assert body["resultInfo"] == {"code": 202, "subcode": 0, "message": "Action is accepted."}
    assert len(body["operationId"]) == 36

    (callback,) = await receiver.wait_count(1)
    elapsed = time.monotonic() - sent
    assert elapsed >= 4.0 / SPEED * 0.9
    assert callback.path == "/acs/callback" and callback.query == "secret=s3cr3t"
    assert callback.headers["content-type"] == "application/json"
    assert "authorization" not in callback.headers  # preview callbacks carry no token
    event = callback.event
    assert event["type"] == "Microsoft.Communication.PlayAudioResult"
    assert event["specversion"] == "1.0"
    assert event["datacontenttype"] == "application/json"
    assert event["source"] == event["subject"] == "calling/callConnections/pv-1"
    assert event["time"].endswith("Z") and len(event["id"]) == 36
    assert event["data"] == {
        "resultInfo": {"code": 200, "subcode": 0, "message": "Action completed successfully."},
        "operationContext": "op-1",
        "status": "completed",
    }


async def test_files_acs_cannot_play_or_fetch_fail_with_8535_or_8536(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    cases = {
        "stereo-8k": (f"{audio.url}/stereo8k.wav", 8535),
        "garbage": (audio.add("garbage.wav", b"not a wav at all"), 8535),
        "8-bit": (audio.add("8bit.wav", make_wav(0.2, width=1)), 8535),
        "24kHz": (audio.add("24k.wav", make_wav(0.2, rate=24_000)), 8535),
        "stereo": (audio.add("stereo.wav", make_wav(0.2, channels=2)), 8535),
        "http-404": (f"{audio.url}/missing.wav", 8536),
        "refused": ("http://127.0.0.1:9/nothing.wav", 8536),
        "not-http": ("ftp://127.0.0.1/a.wav", 8536),
    }
    for name, (uri, _) in cases.items():
        response = await emu.acs.play_audio(
            f"pv-bad-{name}", audioFileUri=uri, operationContext=name, callbackUri=receiver.url + "/cb"
        )
        assert response.status_code == 202, name
    await receiver.wait_count(len(cases))
    for name, (_, subcode) in cases.items():
        (callback,) = receiver.for_context(name)
        data = callback.event["data"]
        result = (data["resultInfo"]["code"], data["resultInfo"]["subcode"], data["status"])
        assert result == (400, subcode, "failed"), name


async def test_plays_queue_behind_each_other(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    for context in ("first", "second", "third"):
        response = await emu.acs.play_audio(
            "pv-q", audioFileUri=f"{audio.url}/short.wav", operationContext=context, callbackUri=receiver.url
        )
        assert response.status_code == 202
    received = await receiver.wait_count(3)
    assert [r.event["data"]["operationContext"] for r in received] == ["first", "second", "third"]
    timeline = await emu.timeline("pv-q")
    starts = [e["at"] for e in timeline if e["kind"] == "playStarted"]
    ends = [e["at"] for e in timeline if e["kind"] == "playEnded"]
    assert len(starts) == len(ends) == 3
    assert starts[1] >= ends[0] and starts[2] >= ends[1]


async def test_cancel_reports_8508_completed_for_the_current_and_every_queued_play(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    # The current play loops, so that it is certainly still playing when the cancel arrives.
    for context in ("playing", "queued-1", "queued-2"):
        await emu.acs.play_audio(
            "pv-c",
            audioFileUri=f"{audio.url}/long.wav",
            loop=context == "playing",
            operationContext=context,
            callbackUri=receiver.url,
        )
    response = await emu.acs.cancel_preview("pv-c", "cancel-ctx")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed" and body["operationContext"] == "cancel-ctx"
    assert body["resultInfo"]["code"] == 200 and len(body["operationId"]) == 36

    received = await receiver.wait_count(3)
    assert [r.event["data"]["operationContext"] for r in received] == ["playing", "queued-1", "queued-2"]
    for index in range(3):
        assert _result(receiver, index) == (400, 8508, "completed")
    assert len(await receiver.settle(4.0 / SPEED + 0.1)) == 3  # nothing completes later


async def test_a_looping_play_runs_until_canceled(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.acs.play_audio(
        "pv-loop", audioFileUri=f"{audio.url}/short.wav", loop=True, operationContext="hold", callbackUri=receiver.url
    )
    assert await receiver.settle(10 * 0.4 / SPEED) == []  # ten durations, and still playing
    await emu.acs.cancel_preview("pv-loop")
    await receiver.wait_count(1)
    assert _result(receiver, 0) == (400, 8508, "completed")


async def test_after_hangup_the_call_is_gone_and_its_plays_end_silently(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    for context in ("playing", "queued"):
        await emu.acs.play_audio(
            "pv-h",
            audioFileUri=f"{audio.url}/long.wav",
            loop=context == "playing",
            operationContext=context,
            callbackUri=receiver.url,
        )
    assert (await emu.acs.hangup_preview("pv-h")).status_code == 202

    for response in (
        await emu.acs.play_audio("pv-h", audioFileUri=f"{audio.url}/short.wav", callbackUri=receiver.url),
        await emu.acs.cancel_preview("pv-h"),
        await emu.acs.hangup_preview("pv-h"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "404"
    assert await receiver.settle(2 * 4.0 / SPEED + 0.1) == []


async def test_the_callback_uri_is_remembered_per_call(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    first = await emu.acs.play_audio("pv-r", audioFileUri=f"{audio.url}/short.wav", operationContext="a")
    assert first.status_code == 400 and "callback" in first.json()["error"]["message"].lower()
    await emu.acs.play_audio(
        "pv-r", audioFileUri=f"{audio.url}/short.wav", operationContext="b", callbackUri=receiver.url
    )
    await emu.acs.play_audio("pv-r", audioFileUri=f"{audio.url}/short.wav", operationContext="c")
    received = await receiver.wait_count(2)
    assert [r.event["data"]["operationContext"] for r in received] == ["b", "c"]


async def test_audio_file_id_caches_the_download(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    for context in ("a", "b", "c"):
        await emu.acs.play_audio(
            "pv-cache",
            audioFileUri=f"{audio.url}/short.wav",
            audioFileId="prompt-1",
            operationContext=context,
            callbackUri=receiver.url,
        )
    await receiver.wait_count(3)
    assert audio.hits["/short.wav"] == 1
    await emu.acs.play_audio("pv-cache", audioFileUri=f"{audio.url}/short.wav", operationContext="d")
    await receiver.wait_count(4)
    assert audio.hits["/short.wav"] == 2  # no id, no cache


async def test_api_versions_and_bodies_are_checked(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    payload = {"audioFileUri": f"{audio.url}/short.wav", "callbackUri": receiver.url}
    path = "/calling/callConnections/v/:playAudio"
    for version in ("2021-06-15-preview", "2021-09-15-preview", "2021-11-15-preview"):
        response = await emu.acs.request("POST", path, payload, api_version=version)
        assert response.status_code == 202, version
    for bad_version in (None, "2020-01-01", "2021-08-30", GA):
        response = await emu.acs.request("POST", path, payload, api_version=bad_version)
        assert response.status_code == 400, bad_version
        assert response.json()["error"]["code"] == "400"
    for bad_body in (
        {"callbackUri": receiver.url},
        {"audioFileUri": 5},
        {"audioFileUri": "http://x/a.wav", "loop": "yes"},
        {"audioFileUri": "http://x/a.wav", "callbackUri": "ftp://x/cb"},
        ["not", "an", "object"],
    ):
        response = await emu.acs.request("POST", path, bad_body)
        assert response.status_code == 400, bad_body


async def test_an_unknown_route_is_an_acs_404(emu: EmulatorHandle) -> None:
    response = await emu.acs.request("POST", "/calling/callConnections/x/:transferToParticipant", {})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "404"
