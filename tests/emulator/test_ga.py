"""The GA Call Automation dialect: :play, :cancelAllMediaOperations, DELETE/:terminate, JWT callbacks."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import jwt
import pytest

from emulator.api_versions import GA_VERSIONS
from emulator.config import DEFAULT_ISSUER, DEFAULT_RESOURCE_ID
from tests.emulator.conftest import SPEED, EmulatorHandle, StartEmulator
from tests.emulator.support import PREVIEW, AudioServer, CallbackReceiver, Received


def _result(received: Received) -> tuple[str, int, int]:
    info = received.event["data"]["resultInformation"]
    return received.type, info["code"], info["subCode"]


async def verify_token(emu: EmulatorHandle, token: str, *, audience: str = DEFAULT_RESOURCE_ID) -> dict[str, Any]:
    """Verify as the ACS docs' Python sample does: PyJWKClient on the JWKS, RS256, issuer, audience."""

    def _verify() -> dict[str, Any]:
        client = jwt.PyJWKClient(f"{emu.url}/calling/keys")
        key = client.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=["RS256"], audience=audience, issuer=emu.emulator.config.issuer
        )
        return claims

    # PyJWKClient fetches with blocking urllib; the emulator runs on this event loop.
    return await asyncio.to_thread(_verify)


def test_the_emulator_knows_every_api_version_of_the_sdk() -> None:
    from azure.communication.callautomation._api_versions import ApiVersion

    assert {version.value for version in ApiVersion} == GA_VERSIONS


async def test_a_play_starts_then_completes_with_the_call_ids(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    sent = time.monotonic()
    response = await emu.acs.play(
        "ga-1", [f"{audio.url}/long.wav"], operation_context="op", callback=receiver.url + "/cb"
    )
    assert response.status_code == 202 and response.content == b""
    started, completed = await receiver.wait_count(2)
    assert time.monotonic() - sent >= 4.0 / SPEED * 0.9
    assert _result(started) == ("PlayStarted", 200, 0)
    assert _result(completed) == ("PlayCompleted", 200, 0)
    data = completed.event["data"]
    assert data["callConnectionId"] == "ga-1" and data["operationContext"] == "op"
    assert base64.b64decode(data["serverCallId"])  # a base64 string
    assert data["correlationId"] == started.event["data"]["correlationId"]
    assert completed.event["source"] == "calling/callConnections/ga-1"


async def test_every_ga_version_plays_and_others_are_400(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    payload = {
        "playSources": [{"kind": "file", "file": {"uri": f"{audio.url}/short.wav"}}],
        "operationCallbackUri": receiver.url,
    }
    for version in sorted(GA_VERSIONS):
        response = await emu.acs.request("POST", "/calling/callConnections/v:play", payload, api_version=version)
        assert response.status_code == 202, version
    for bad_version in ("2022-04-07-preview", "2030-01-01", PREVIEW, None):
        response = await emu.acs.request("DELETE", "/calling/callConnections/v", api_version=bad_version)
        assert response.status_code == 400, bad_version
        assert response.json()["error"]["code"] == "400"


async def test_failures_name_the_failed_source(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.acs.play("ga-f", [f"{audio.url}/stereo8k.wav"], operation_context="format", callback=receiver.url)
    await emu.acs.play("ga-f", [f"{audio.url}/short.wav", f"{audio.url}/gone.wav"], operation_context="download")
    first, second = await receiver.wait_count(2)
    assert _result(first) == ("PlayFailed", 400, 8535)
    assert first.event["data"]["failedPlaySourceIndex"] == 0
    assert _result(second) == ("PlayFailed", 400, 8536)
    assert second.event["data"]["failedPlaySourceIndex"] == 1


async def test_cancel_sends_play_canceled_for_current_and_queued(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    # The current play loops, so that it is certainly still playing when the cancel arrives.
    await emu.acs.play("ga-c", [f"{audio.url}/long.wav"], operation_context="playing", callback=receiver.url, loop=True)
    await receiver.wait_count(1)  # PlayStarted
    await emu.acs.play("ga-c", [f"{audio.url}/long.wav"], operation_context="queued")
    response = await emu.acs.cancel("ga-c")
    assert response.status_code == 202 and response.content == b""
    received = await receiver.wait_count(3)
    assert [(r.type, r.event["data"]["operationContext"]) for r in received] == [
        ("PlayStarted", "playing"),
        ("PlayCanceled", "playing"),
        ("PlayCanceled", "queued"),
    ]
    assert _result(received[1]) == ("PlayCanceled", 400, 8508)


async def test_a_loop_plays_until_canceled(emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver) -> None:
    await emu.acs.play("ga-l", [f"{audio.url}/short.wav"], operation_context="hold", callback=receiver.url, loop=True)
    await receiver.wait_count(1)
    assert [r.type for r in await receiver.settle(10 * 0.4 / SPEED)] == ["PlayStarted"]
    await emu.acs.cancel("ga-l")
    received = await receiver.wait_count(2)
    assert _result(received[1]) == ("PlayCanceled", 400, 8508)


async def test_interrupt_cancels_what_plays_and_plays_at_once(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.acs.play("ga-i", [f"{audio.url}/long.wav"], operation_context="old", callback=receiver.url, loop=True)
    await receiver.wait_count(1)
    await emu.acs.play("ga-i", [f"{audio.url}/short.wav"], operation_context="new", interrupt=True)
    received = await receiver.wait_count(4)
    assert [(r.type, r.event["data"]["operationContext"]) for r in received] == [
        ("PlayStarted", "old"),
        ("PlayCanceled", "old"),
        ("PlayStarted", "new"),
        ("PlayCompleted", "new"),
    ]


@pytest.mark.parametrize("how", ["DELETE", "terminate"])
async def test_hang_up_sends_call_disconnected_and_the_call_is_gone(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver, how: str
) -> None:
    await emu.acs.play("ga-h", [f"{audio.url}/long.wav"], operation_context="playing", callback=receiver.url, loop=True)
    await emu.acs.play("ga-h", [f"{audio.url}/long.wav"], operation_context="queued")
    await receiver.wait_count(1)
    if how == "DELETE":
        response = await emu.acs.hangup("ga-h")
    else:
        response = await emu.acs.request(
            "POST", "/calling/callConnections/ga-h:terminate", {}, api_version="2024-09-15"
        )
    assert response.status_code == 204
    received = await receiver.wait_count(2)
    assert [r.type for r in received] == ["PlayStarted", "CallDisconnected"]
    assert received[1].event["data"]["callConnectionId"] == "ga-h"
    assert (await emu.acs.play("ga-h", [f"{audio.url}/short.wav"])).status_code == 404
    assert (await emu.acs.cancel("ga-h")).status_code == 404
    assert (await emu.acs.hangup("ga-h")).status_code == 404
    assert len(await receiver.settle(2 * 4.0 / SPEED)) == 2


async def test_get_call_describes_a_live_call(emu: EmulatorHandle) -> None:
    response = await emu.acs.request("GET", "/calling/callConnections/ga-get", api_version="2024-09-15")
    assert response.status_code == 200
    body = response.json()
    assert body["callConnectionId"] == "ga-get" and body["callConnectionState"] == "connected"


async def test_play_source_cache_id_caches_the_download(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    for context in ("a", "b"):
        await emu.acs.play(
            "ga-k", [f"{audio.url}/short.wav"], operation_context=context, callback=receiver.url, cache_id="p1"
        )
    await receiver.wait_count(4)
    assert audio.hits["/short.wav"] == 1


async def test_a_malformed_play_is_400(emu: EmulatorHandle) -> None:
    file = {"kind": "file", "file": {"uri": "http://127.0.0.1:9/a.wav"}}
    callback = "http://127.0.0.1:9/cb"
    for payload in (
        {"playSources": [], "operationCallbackUri": callback},
        {"playSources": [{"kind": "text", "text": {"text": "hello"}}], "operationCallbackUri": callback},
        {"playSources": [{"kind": "file", "file": {}}], "operationCallbackUri": callback},
        {"playSources": [file], "playOptions": {"loop": "no"}, "operationCallbackUri": callback},
        {"playSources": [file], "playOptions": [], "operationCallbackUri": callback},
        {"playSources": [file]},  # the call's first play, and no callback URI to send results to
    ):
        response = await emu.acs.request("POST", "/calling/callConnections/m:play", payload, api_version="2024-09-15")
        assert response.status_code == 400, payload


# -- callback authentication -------------------------------------------------------------------


async def test_each_callback_carries_a_current_jwt_verifiable_with_the_served_jwks(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    await emu.acs.play("ga-jwt", [f"{audio.url}/short.wav"], operation_context="op", callback=receiver.url)
    received = await receiver.wait_count(2)
    tokens = [r.headers["authorization"].removeprefix("Bearer ") for r in received]
    for token, callback in zip(tokens, received, strict=True):
        claims = await verify_token(emu, token)
        assert claims["iss"] == DEFAULT_ISSUER and claims["aud"] == DEFAULT_RESOURCE_ID
        assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"]
        # Issued for this delivery: within a second of its arrival, and iat is whole seconds
        # (the floor of the minting time), so it may read up to one second more before it.
        assert int(callback.at) - 1 <= claims["iat"] <= callback.at
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "RS256" and header["kid"]


async def test_openid_configuration_points_at_the_emulator(start_emulator: StartEmulator) -> None:
    emu = await start_emulator(issuer="https://issuer.test", resource_id="11111111-2222-3333-4444-555555555555")
    config = (await emu.control.get("/calling/.well-known/acsopenidconfiguration")).json()
    assert config["issuer"] == "https://issuer.test"
    assert config["jwks_uri"] == f"{emu.url}/calling/keys"
    jwks = (await emu.control.get("/calling/keys")).json()
    assert [key["kty"] for key in jwks["keys"]] == ["RSA"]
    token = emu.emulator.keys.mint()
    claims = await verify_token(emu, token, audience="11111111-2222-3333-4444-555555555555")
    assert claims["iss"] == "https://issuer.test"


async def test_rotation_signs_with_the_new_key_and_keeps_the_old_until_dropped(emu: EmulatorHandle) -> None:
    old_token = emu.emulator.keys.mint()
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    rotated = (await emu.control.post("/emulator/keys/rotate")).json()
    assert rotated["kid"] != old_kid and set(rotated["kids"]) == {old_kid, rotated["kid"]}
    new_token = emu.emulator.keys.mint()
    assert jwt.get_unverified_header(new_token)["kid"] == rotated["kid"]
    await verify_token(emu, new_token)
    await verify_token(emu, old_token)  # still published

    dropped = (await emu.control.post("/emulator/keys/rotate", json={"dropOld": True})).json()
    assert dropped["kids"] == [dropped["kid"]]
    with pytest.raises(jwt.PyJWKClientError):
        await verify_token(emu, old_token)
