"""kill -9 at every named step, then restart: nothing is lost, nothing is played twice per attempt.

Each case arms one crash point in one process (it dies with os._exit the 4th time it passes the
point, mid-workload), restarts it the way a platform would, and checks conservation: every
sequence completed, at most one play request per (sequence, step, repeat, attempt).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from service.audio_server import AudioServer
from service.crashpoints import CRASH_POINTS
from service.devstack import DevStack
from tests.chaos.conftest import FAST_ENV, conserve, start_all, workload

CALLS = 6


@pytest.mark.timeout(120)
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_point(point: str, files: AudioServer, tmp_path: Path) -> None:
    process = "web" if point.startswith("web.") else "worker1"
    stack = DevStack(
        speed=10,
        callback_retries=8,
        log_dir=tmp_path,
        extra_env=FAST_ENV,
        process_env={process: {"CALLCUE_CRASH_AT": f"{point}:{1 if point == 'web.after_start' else 4}"}},
    )
    with stack:
        plans = workload(files, CALLS, point.replace(".", "-").replace("_", "-"))
        crashes = start_all(stack, plans)
        result = conserve(stack, point, list(plans), crashes)
        log = (stack.log_dir / f"{process}.log").read_text(errors="replace")
    assert result.crashes >= 1 and f"crash point {point} reached" in log, "the crash point was never reached"
    assert result.lost == 0, result
    assert result.double_plays == 0, result


@pytest.mark.timeout(120)
@pytest.mark.parametrize("process", ["worker1", "web"])
def test_process_killed_mid_work(process: str, files: AudioServer, tmp_path: Path) -> None:
    with DevStack(speed=10, callback_retries=8, log_dir=tmp_path, extra_env=FAST_ENV) as stack:
        plans = workload(files, CALLS, f"kill-{process}")
        start_all(stack, plans)
        time.sleep(0.15)  # plays are being sent and callbacks are arriving
        stack.stop_process(process, signal.SIGKILL)
        result = conserve(stack, f"kill -9 {process}", list(plans))
    assert result.crashes == 1 and result.lost == 0 and result.double_plays == 0, result


@pytest.mark.timeout(120)
def test_redis_killed_and_restarted_from_its_aof(files: AudioServer, tmp_path: Path) -> None:
    with DevStack(speed=10, callback_retries=8, log_dir=tmp_path, extra_env=FAST_ENV) as stack:
        plans = workload(files, CALLS, "kill-redis")
        start_all(stack, plans)
        time.sleep(1.2)  # the AOF is fsynced every second: what was acknowledged before is on disk
        assert stack.redis is not None
        stack.redis.kill()
        time.sleep(1.0)  # callbacks meet a web process without Redis: 503, the emulator retries
        stack.redis.start()
        result = conserve(stack, "kill -9 Redis, restart from AOF", list(plans))
    assert result.lost == 0 and result.double_plays == 0, result
    assert result.crashes == 0  # web and worker never died: they waited for Redis and reconnected
