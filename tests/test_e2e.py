"""End to end with real processes: Redis, the emulator, `callcue web` and `callcue worker`.

Each test drives one call through the public API and checks the result from both sides: the
status API, and the emulator's timeline (what ACS would have seen and sent).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Lock, Thread
from typing import Any

import httpx
import pytest

from service.audio_server import write_tone
from service.devstack import DevStack

SPEED = 10.0  # prompts play ten times faster at the emulator


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    env = {"CALLCUE_ACS_TIMEOUT_SECONDS": "2", "CALLCUE_WATCHDOG_GRACE_SECONDS": "0.5"}
    with DevStack(speed=SPEED, log_dir=tmp_path_factory.mktemp("stack"), extra_env=env) as running:
        yield running


class FlakyFiles:
    """Serves WAVs; a path can be made to fail (404) for its first N downloads by ACS.

    callcue itself reads WAV headers with a Range request; those are never failed or counted.
    """

    def __init__(self, directory: Path) -> None:
        self.failures: dict[str, int] = {}
        self.downloads: dict[str, int] = {}
        lock = Lock()
        files = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(directory), **kwargs)

            def do_GET(self) -> None:
                if "Range" not in self.headers:
                    with lock:
                        files.downloads[self.path] = files.downloads.get(self.path, 0) + 1
                        failing = files.failures.get(self.path, 0)
                        if failing:
                            files.failures[self.path] = failing - 1
                    if failing:
                        self.send_error(404)
                        return
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def files(audio_dir: Path) -> Iterator[FlakyFiles]:
    server = FlakyFiles(audio_dir)
    yield server
    server.close()


@pytest.fixture
def api(stack: DevStack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def start(api: httpx.Client, call: str, plan: dict[str, Any]) -> str:
    answer = api.post(f"/v1/calls/{call}/sequences", json=plan)
    assert answer.status_code == 202, answer.text
    sid: str = answer.json()["sequenceId"]
    return sid


def wait_for(
    api: httpx.Client, sid: str, statuses: tuple[str, ...], stack: DevStack, timeout: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, Any] = api.get(f"/v1/sequences/{sid}").json()
        if status["status"] in statuses:
            return status
        time.sleep(0.05)
    logs = "\n".join(f"--- {n}\n{stack.log_tail(n)}" for n in stack.processes)
    raise AssertionError(f"{sid} is {status['status']}, not {statuses}, after {timeout} s\n{status}\n{logs}")


def emulator_timeline(stack: DevStack, call: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(f"{stack.emulator_url}/emulator/calls/{call}/timeline").json()["entries"]
    return entries


def fault(stack: DevStack, **rule: Any) -> None:
    answer = httpx.post(f"{stack.emulator_url}/emulator/faults", json=rule)
    assert answer.status_code == 201, answer.text


def operations(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for step in status["steps"] for op in step["operations"]]


def test_a_sequence_end_to_end(api: httpx.Client, stack: DevStack, files: FlakyFiles) -> None:
    plan = {
        "prompts": [
            {"audioFileUri": files.url("one.wav")},
            {"audioFileUri": files.url("two.wav"), "repeat": 2},
            {"audioFileUri": files.url("bad.wav")},
        ]
    }
    sid = start(api, "e2e-1", plan)
    status = wait_for(api, sid, ("failed",), stack)
    ops = operations(status)
    assert [(o["step"], o["repeat"], o["attempt"], o["status"]) for o in ops] == [
        (0, 0, 1, "completed"),
        (1, 0, 1, "completed"),
        (1, 1, 1, "completed"),
        (2, 0, 1, "failed"),
    ]
    assert ops[-1]["resultInfo"] == {"code": 400, "subcode": 8535, "message": ops[-1]["resultInfo"]["message"]}
    assert "8535" in status["reason"]
    seen = emulator_timeline(stack, "e2e-1")
    plays = [e for e in seen if e["kind"] == "playRequest"]
    assert [p["operationContext"] for p in plays] == [o["operationContext"] for o in ops]
    assert [p["audioFileUri"] for p in plays] == [files.url(n) for n in ("one.wav", "two.wav", "two.wav", "bad.wav")]
    callbacks = [(e["code"], e["subcode"]) for e in seen if e["kind"] == "callback"]
    assert callbacks == [(200, 0), (200, 0), (200, 0), (400, 8535)]
    # Each play was requested only after the previous one's callback: one play in flight at a time.
    times = [(e["at"], e["kind"]) for e in seen if e["kind"] in ("playRequest", "callback")]
    assert [k for _, k in times] == ["playRequest", "callback"] * 4
    call = api.get("/v1/calls/e2e-1").json()
    assert call["sequences"][0]["sequenceId"] == sid and call["activeSequenceId"] is None
    assert [e["kind"] for e in call["timeline"]].count("outcome") == 4
    op = api.get(f"/v1/operations/{ops[0]['operationContext']}").json()
    assert op["status"] == "completed" and op["events"][0]["event"]["type"] == "Microsoft.Communication.PlayAudioResult"


def test_repeat_three_times_with_pauses(api: httpx.Client, stack: DevStack, files: FlakyFiles) -> None:
    plan = {
        "prompts": [
            {"audioFileUri": files.url("one.wav"), "repeat": 3, "pauseAfterMs": 400},
            {"audioFileUri": files.url("two.wav")},
        ]
    }
    sid = start(api, "e2e-pause", plan)
    status = wait_for(api, sid, ("completed",), stack)
    assert status["steps"][0]["plays"] == 3 and status["steps"][1]["plays"] == 1
    seen = emulator_timeline(stack, "e2e-pause")
    callbacks = [e["at"] for e in seen if e["kind"] == "callback"]
    plays = [e["at"] for e in seen if e["kind"] == "playRequest"]
    assert len(plays) == 4
    for done, nxt in zip(callbacks, plays[1:], strict=False):
        assert nxt - done >= 0.4  # the pause is silence before the next play, at least that long


def test_download_failure_is_retried_once_then_completes(api: httpx.Client, stack: DevStack, files: FlakyFiles) -> None:
    files.failures["/one.wav"] = 1
    plan = {"prompts": [{"audioFileUri": files.url("one.wav")}], "retry": {"maxAttempts": 3, "initialDelayMs": 50}}
    sid = start(api, "e2e-8536", plan)
    status = wait_for(api, sid, ("completed",), stack)
    ops = operations(status)
    assert [(o["attempt"], o["status"]) for o in ops] == [(1, "failed"), (2, "completed")]
    assert ops[0]["resultInfo"]["subcode"] == 8536
    codes = [(e["code"], e["subcode"]) for e in emulator_timeline(stack, "e2e-8536") if e["kind"] == "callback"]
    assert codes == [(400, 8536), (200, 0)]


def test_throttled_play_waits_for_retry_after(api: httpx.Client, stack: DevStack, files: FlakyFiles) -> None:
    fault(stack, kind="httpStatus", callConnectionId="e2e-429", status=429, retryAfter=1, times=1)
    sid = start(api, "e2e-429", {"prompts": [{"audioFileUri": files.url("two.wav")}]})
    status = wait_for(api, sid, ("completed",), stack)
    first, second = operations(status)
    assert first["httpStatus"] == 429 and first["status"] == "failed" and second["status"] == "completed"
    assert second["requestedAt"] - first["endedAt"] >= 1.0


def test_dropped_callback_is_caught_by_the_watchdog(api: httpx.Client, stack: DevStack, files: FlakyFiles) -> None:
    fault(stack, kind="drop", callConnectionId="e2e-drop", times=1)
    sid = start(
        api,
        "e2e-drop",
        {"prompts": [{"audioFileUri": files.url("two.wav")}], "retry": {"maxAttempts": 2, "initialDelayMs": 0}},
    )
    status = wait_for(api, sid, ("completed",), stack)
    ops = operations(status)
    assert [o["status"] for o in ops] == ["timedOut", "completed"]
    plays = [e for e in emulator_timeline(stack, "e2e-drop") if e["kind"] == "playRequest"]
    assert len(plays) == 2


def test_cancel_during_a_looped_prompt(api: httpx.Client, stack: DevStack, files: FlakyFiles) -> None:
    sid = start(
        api,
        "e2e-loop",
        {"prompts": [{"audioFileUri": files.url("one.wav"), "loop": True}, {"audioFileUri": files.url("two.wav")}]},
    )
    status = wait_for(api, sid, ("running",), stack)
    deadline = time.monotonic() + 10
    while operations(status)[0]["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        status = api.get(f"/v1/sequences/{sid}").json()
    time.sleep(0.2)  # a few loops at the emulator
    answer = api.post(f"/v1/sequences/{sid}/cancel")
    assert answer.status_code == 202 and answer.json()["status"] == "canceled"
    time.sleep(1.0)  # the emulator's 8508 callback for the canceled loop arrives meanwhile
    final = api.get(f"/v1/sequences/{sid}").json()
    assert final["status"] == "canceled" and len(operations(final)) == 1
    seen = emulator_timeline(stack, "e2e-loop")
    assert [e["kind"] for e in seen if e["kind"] in ("playRequest", "cancel")] == ["playRequest", "cancel"]
    late = [e for e in seen if e["kind"] == "callback"]
    assert late and late[-1]["subcode"] == 8508
    events = api.get(f"/v1/operations/{operations(final)[0]['operationContext']}").json()["events"]
    assert events and "ignored" in events[-1]  # recorded, changed nothing
    assert api.post(f"/v1/sequences/{sid}/cancel").status_code == 409


def test_replace_and_enqueue(api: httpx.Client, stack: DevStack, files: FlakyFiles) -> None:
    long = {"prompts": [{"audioFileUri": files.url("one.wav"), "loop": True}]}
    first = start(api, "e2e-modes", long)
    wait_for(api, first, ("running",), stack)
    time.sleep(0.3)
    queued = start(api, "e2e-modes", {"prompts": [{"audioFileUri": files.url("two.wav")}], "mode": "enqueue"})
    assert api.get(f"/v1/sequences/{queued}").json()["status"] == "queued"
    replacing = start(api, "e2e-modes", {"prompts": [{"audioFileUri": files.url("two.wav")}], "mode": "replace"})
    assert api.get(f"/v1/sequences/{first}").json()["status"] == "canceled"
    wait_for(api, replacing, ("completed",), stack)
    wait_for(api, queued, ("completed",), stack)  # it waited for the replacing sequence, then played
    seen = emulator_timeline(stack, "e2e-modes")
    kinds = [e["kind"] for e in seen if e["kind"] in ("playRequest", "cancel")]
    assert kinds == ["playRequest", "cancel", "playRequest", "playRequest"]
    call = api.get("/v1/calls/e2e-modes").json()
    assert [s["sequenceId"] for s in call["sequences"]] == [first, queued, replacing]


def test_result_before_the_202(api: httpx.Client, stack: DevStack, files: FlakyFiles) -> None:
    fault(stack, kind="earlyCallback", callConnectionId="e2e-early", times=None)
    sid = start(api, "e2e-early", {"prompts": [{"audioFileUri": files.url("two.wav"), "repeat": 2}]})
    status = wait_for(api, sid, ("completed",), stack)
    ops = operations(status)
    assert [o["status"] for o in ops] == ["completed", "completed"]
    assert all(o["acceptedAt"] >= o["endedAt"] for o in ops)  # the 202 was recorded after the result
    assert len([e for e in emulator_timeline(stack, "e2e-early") if e["kind"] == "playRequest"]) == 2


def test_server_errors_are_retried(api: httpx.Client, stack: DevStack, files: FlakyFiles) -> None:
    fault(stack, kind="httpStatus", callConnectionId="e2e-5xx", status=503, times=2)
    plan = {"prompts": [{"audioFileUri": files.url("two.wav")}], "retry": {"maxAttempts": 3, "initialDelayMs": 50}}
    sid = start(api, "e2e-5xx", plan)
    status = wait_for(api, sid, ("completed",), stack)
    assert [(o["attempt"], o.get("httpStatus"), o["status"]) for o in operations(status)] == [
        (1, 503, "failed"),
        (2, 503, "failed"),
        (3, None, "completed"),
    ]


def test_a_slow_answer_after_the_result_changes_nothing(api: httpx.Client, stack: DevStack, files: FlakyFiles) -> None:
    # ACS's result arrives before its (late) answer to the request: the play is done, and the
    # timeout that follows is recorded without a retry.
    fault(stack, kind="slowResponse", callConnectionId="e2e-slow", delayMs=2500, times=1)
    plan = {"prompts": [{"audioFileUri": files.url("two.wav")}], "retry": {"maxAttempts": 3, "initialDelayMs": 50}}
    sid = start(api, "e2e-slow", plan)
    time.sleep(3)  # the job's timeout (2 s) has passed
    status = wait_for(api, sid, ("completed",), stack)
    assert [o["status"] for o in operations(status)] == ["completed"]
    events = api.get(f"/v1/operations/{operations(status)[0]['operationContext']}").json()["events"]
    assert events[-1]["outcome"]["http_status"] == 0 and "ignored" in events[-1]


def test_no_answer_before_the_timeout_is_a_new_attempt(
    api: httpx.Client, stack: DevStack, files: FlakyFiles, audio_dir: Path
) -> None:
    # A 30 s prompt plays 3 s at the emulator: the request times out (2 s) before any result,
    # so callcue retries as attempt 2; attempt 1's own result, arriving later, changes nothing.
    write_tone(audio_dir / "long.wav", 30.0)
    fault(stack, kind="slowResponse", callConnectionId="e2e-timeout", delayMs=2500, times=1)
    plan = {"prompts": [{"audioFileUri": files.url("long.wav")}], "retry": {"maxAttempts": 3, "initialDelayMs": 50}}
    sid = start(api, "e2e-timeout", plan)
    status = wait_for(api, sid, ("completed",), stack, timeout=30)
    first, second = operations(status)
    assert (first["status"], first["httpStatus"], second["status"]) == ("failed", 0, "completed")
    requests = [e["operationContext"] for e in emulator_timeline(stack, "e2e-timeout") if e["kind"] == "playRequest"]
    assert requests == [first["operationContext"], second["operationContext"]]


def test_metrics_move(api: httpx.Client, stack: DevStack, files: FlakyFiles) -> None:
    from tests.service.test_metrics import samples

    before = samples(api.get("/metrics").text)
    fault(stack, kind="drop", callConnectionId="e2e-metrics", times=1)
    fault(stack, kind="duplicate", callConnectionId="e2e-metrics", copies=2, times=None)
    plan = {"prompts": [{"audioFileUri": files.url("two.wav"), "repeat": 2}], "retry": {"initialDelayMs": 0}}
    sid = start(api, "e2e-metrics", plan)
    wait_for(api, sid, ("completed",), stack)
    after = samples(api.get("/metrics").text)

    def grew(key: str) -> float:
        return after.get(key, 0) - before.get(key, 0)

    assert grew("callcue_plays_total{result=accepted}") == 3  # one dropped result, retried once
    assert grew("callcue_retries_total") == 1
    assert grew("callcue_watchdog_timeouts_total") == 1
    assert grew("callcue_callbacks_total{result=applied,type=PlayAudioResult}") == 2
    assert grew("callcue_callbacks_total{result=duplicates,type=PlayAudioResult}") >= 1
    assert grew("callcue_sequences_ended_total{status=completed}") == 1
    assert grew("callcue_gap_seconds_count") == 3 and grew("callcue_gap_seconds_bucket{le=+Inf}") == 3
    assert "callcue_workers" in after and "callcue_outbox_lag_seconds" in after
