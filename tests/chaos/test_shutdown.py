"""SIGTERM is a warm shutdown: the worker finishes the play request it is sending, then exits."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from service.audio_server import AudioServer
from service.devstack import DevStack
from tests.chaos.conftest import FAST_ENV, operations


@pytest.mark.timeout(60)
def test_worker_finishes_its_job_on_sigterm(files: AudioServer, tmp_path: Path) -> None:
    with DevStack(speed=10, log_dir=tmp_path, extra_env={**FAST_ENV, "CALLCUE_ACS_TIMEOUT_SECONDS": "5"}) as stack:
        rule = {"kind": "slowResponse", "callConnectionId": "term-1", "delayMs": 1500, "times": 1}
        assert httpx.post(f"{stack.emulator_url}/emulator/faults", json=rule).status_code == 201
        with stack.client() as api:
            sid = api.post("/v1/calls/term-1/sequences", json={"prompts": [{"audioFileUri": files.url("one.wav")}]})
            sid_value = sid.json()["sequenceId"]
            deadline = time.monotonic() + 10
            while api.get(f"/v1/sequences/{sid_value}").json()["current"].get("requestedAt") is None:
                assert time.monotonic() < deadline, "the play was never requested"
                time.sleep(0.02)
            started = time.monotonic()
            code = stack.stop_process("worker1", signal.SIGTERM, timeout=20)
            waited = time.monotonic() - started
            op = operations(api.get(f"/v1/sequences/{sid_value}").json())[0]
        assert code == 0
        assert waited >= 1.0  # it waited for ACS's slow answer instead of dying mid-request
        assert op["acceptedAt"] is not None  # and recorded the answer before exiting
        plays = [
            e
            for e in httpx.get(f"{stack.emulator_url}/emulator/calls/term-1/timeline").json()["entries"]
            if e["kind"] == "playRequest"
        ]
        assert len(plays) == 1
