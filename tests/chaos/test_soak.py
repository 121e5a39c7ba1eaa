"""Soak: 200 concurrent calls for 2 minutes with ~10 % of callbacks faulted.

Every call plays sequence after sequence; the emulator duplicates, drops, delays or reorders
about one callback in ten. At the end: nothing lost, no play request twice for one attempt,
and the web and worker processes did not grow without bound.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from service.audio_server import AudioServer, write_tone
from service.devstack import DevStack
from tests.chaos.conftest import FAST_ENV, conserve

CALLS = 200
DURATION = 120.0
FAULTS = {"duplicate": 0.03, "drop": 0.02, "delay": 0.03, "reorder": 0.02}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.timeout(DURATION + 180)
def test_soak(tmp_path: Path) -> None:
    write_tone(tmp_path / "soak.wav", 1.0)
    with (
        AudioServer(tmp_path) as files,
        DevStack(workers=2, speed=1, callback_retries=8, log_dir=tmp_path / "logs", extra_env=FAST_ENV) as stack,
    ):
        for kind, probability in FAULTS.items():
            rule: dict[str, object] = {"kind": kind, "probability": probability, "times": None}
            if kind == "delay":
                rule["delayMs"] = 300
            assert httpx.post(f"{stack.emulator_url}/emulator/faults", json=rule).status_code == 201
        plan = {
            "prompts": [{"audioFileUri": files.url("soak.wav"), "repeat": 5, "pauseAfterMs": 1000}],
            "retry": {"maxAttempts": 5, "initialDelayMs": 100},
        }
        calls = [f"soak-{i}" for i in range(CALLS)]
        started = {c: 0 for c in calls}
        samples: list[tuple[int, int]] = []
        end = time.monotonic() + DURATION
        with stack.client(timeout=10) as api:
            while time.monotonic() < end:
                for call in calls:
                    current = api.get(f"/v1/calls/{call}") if started[call] else None
                    active = current is not None and current.json()["activeSequenceId"] is not None
                    if not active:
                        assert api.post(f"/v1/calls/{call}/sequences", json=plan).status_code == 202
                        started[call] += 1
                web, worker = stack.processes["web"].pid, stack.processes["worker1"].pid
                samples.append((rss_kb(web), rss_kb(worker)))
                time.sleep(1.0)
        result = conserve(stack, f"soak: {CALLS} calls, {DURATION:.0f} s, ~10 % callbacks faulted", calls, timeout=90)
        played = sum(started.values())
        # Every sequence, not only each call's last one, must have completed.
        with stack.client(timeout=10) as api:
            statuses = [s["status"] for c in calls for s in api.get(f"/v1/calls/{c}").json()["sequences"]]
    assert len(statuses) == played and statuses.count("completed") == played, Counter(statuses)
    assert result.lost == 0 and result.double_plays == 0, result
    assert played >= CALLS * 2, f"only {played} sequences were started in {DURATION} s"
    # Memory flat: after warm-up (the first quarter), neither process grows by more than 25 %.
    warm = samples[len(samples) // 4]
    last = samples[-1]
    assert last[0] < warm[0] * 1.25 and last[1] < warm[1] * 1.25, (warm, last)
