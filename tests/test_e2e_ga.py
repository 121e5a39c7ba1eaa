"""The GA Call Automation dialect end to end: `:play`, PlayStarted/PlayCompleted/PlayFailed events,
and every callback authenticated by the emulator's RS256 JWT."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.audio_server import AudioServer
from service.devstack import DevStack
from tests.test_e2e import emulator_timeline, fault, operations, start, wait_for


@pytest.fixture(scope="module")
def ga(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    env = {"CALLCUE_WATCHDOG_GRACE_SECONDS": "0.5", "CALLCUE_ACS_TIMEOUT_SECONDS": "2"}
    with DevStack(speed=10, api_version="2024-09-15", log_dir=tmp_path_factory.mktemp("ga"), extra_env=env) as running:
        yield running


@pytest.fixture
def files(audio_dir: Path) -> Iterator[AudioServer]:
    with AudioServer(audio_dir) as server:
        yield server


def test_ga_sequence_with_jwt_callbacks(ga: DevStack, files: AudioServer) -> None:
    with ga.client() as api:
        plan = {
            "prompts": [
                {"audioFileUri": files.url("one.wav"), "audioFileId": "one-v1", "repeat": 2},
                {"audioFileUri": files.url("bad.wav")},
            ]
        }
        sid = start(api, "ga-1", plan)
        status = wait_for(api, sid, ("failed",), ga)
        assert [o["status"] for o in operations(status)] == ["completed", "completed", "failed"]
        assert operations(status)[-1]["resultInfo"]["subcode"] == 8535
        op = api.get(f"/v1/operations/{operations(status)[0]['operationContext']}").json()
        types = [e["event"]["type"] for e in op["events"]]
        assert types == ["Microsoft.Communication.PlayStarted", "Microsoft.Communication.PlayCompleted"]
    seen = emulator_timeline(ga, "ga-1")
    assert [e["eventType"] for e in seen if e["kind"] == "callback"][-1] == "Microsoft.Communication.PlayFailed"
    assert all(e.get("httpStatus") == 200 for e in seen if e["kind"] == "callback")


@pytest.mark.parametrize(
    "kind", ["jwtExpired", "jwtWrongAudience", "jwtWrongIssuer", "jwtUnknownKid", "jwtBadSignature"]
)
def test_bad_tokens_are_refused_and_change_nothing(ga: DevStack, files: AudioServer, kind: str) -> None:
    call = f"ga-{kind}"
    # Every callback of this call carries the bad token (the emulator retries; all are refused).
    fault(ga, kind=kind, callConnectionId=call, times=None)
    with ga.client() as api:
        sid = start(api, call, {"prompts": [{"audioFileUri": files.url("two.wav")}], "retry": {"maxAttempts": 1}})
        status = wait_for(api, sid, ("failed",), ga, timeout=30)  # only the watchdog can end it
        op = operations(status)[0]
        assert op["status"] == "timedOut"
        assert api.get(f"/v1/operations/{op['operationContext']}").json()["events"][0]["outcome"]["kind"] == "timedOut"
    answers = {e.get("httpStatus") for e in emulator_timeline(ga, call) if e["kind"] == "callback"}
    assert answers == {401}


def test_key_rotation_is_followed(ga: DevStack, files: AudioServer) -> None:
    with ga.client() as api:
        first = start(api, "ga-rotate", {"prompts": [{"audioFileUri": files.url("two.wav")}]})
        wait_for(api, first, ("completed",), ga)
        rotated = httpx.post(f"{ga.emulator_url}/emulator/keys/rotate", json={"dropOld": True})
        assert rotated.status_code == 200
        second = start(api, "ga-rotate", {"prompts": [{"audioFileUri": files.url("two.wav")}]})
        wait_for(api, second, ("completed",), ga)


def test_hang_up_ends_the_call(ga: DevStack, files: AudioServer) -> None:
    from service.acs.client import AcsClient
    from service.settings import AcsConnection

    with ga.client() as api:
        looping = start(api, "ga-gone", {"prompts": [{"audioFileUri": files.url("one.wav"), "loop": True}]})
        queued = start(api, "ga-gone", {"prompts": [{"audioFileUri": files.url("two.wav")}], "mode": "enqueue"})
        wait_for(api, looping, ("running",), ga)
        time.sleep(0.3)
        acs = AcsClient(AcsConnection.parse(ga.env["CALLCUE_ACS_CONNECTION_STRING"]), "2024-09-15", 5)
        assert acs.hang_up("ga-gone", now=time.time()).status == 204
        acs.close()
        ended = wait_for(api, looping, ("failed",), ga)
        assert "gone" in ended["reason"]
        assert api.get(f"/v1/sequences/{queued}").json()["status"] == "failed"
        again = api.post("/v1/calls/ga-gone/sequences", json={"prompts": [{"audioFileUri": files.url("two.wav")}]})
        assert again.status_code == 409 and again.json()["code"] == "conflict"
    kinds = [e.get("eventType") for e in emulator_timeline(ga, "ga-gone") if e["kind"] == "callback"]
    assert kinds[-1] == "Microsoft.Communication.CallDisconnected"
