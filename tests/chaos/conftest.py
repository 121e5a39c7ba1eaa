"""Shared parts of the reliability tests: a workload, a supervisor, and the conservation check.

Every scenario records a row (scenario, runs, sequences, lost, double plays); `make chaos`
prints the table at the end, the one docs/RELIABILITY.md shows.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.audio_server import AudioServer
from service.devstack import DevStack


@dataclass
class Result:
    scenario: str
    sequences: int
    lost: int  # sequences that did not reach a terminal status in time, or ended other than completed
    double_plays: int  # play requests beyond one per (sequence, step, repeat, attempt)
    replays: int  # (step, repeat) played to completion more than once (a lost result, then a retry)
    crashes: int


RESULTS: list[Result] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    runs = Counter(r.scenario for r in RESULTS)
    terminalreporter.write_line("")
    terminalreporter.write_line("| scenario | runs | sequences | lost | double plays | replays | crashes |")
    terminalreporter.write_line("|---|---|---|---|---|---|---|")
    seen: set[str] = set()
    for r in RESULTS:
        if r.scenario in seen:
            continue
        seen.add(r.scenario)
        same = [x for x in RESULTS if x.scenario == r.scenario]
        terminalreporter.write_line(
            f"| {r.scenario} | {runs[r.scenario]} | {sum(x.sequences for x in same)} | {sum(x.lost for x in same)} "
            f"| {sum(x.double_plays for x in same)} | {sum(x.replays for x in same)} | {sum(x.crashes for x in same)} |"
        )


@pytest.fixture
def files(audio_dir: Path) -> Iterator[AudioServer]:
    with AudioServer(audio_dir) as server:
        yield server


FAST_ENV = {
    "CALLCUE_ACS_TIMEOUT_SECONDS": "2",
    # Longer than a web restart (~1 s) plus the emulator's callback backoff: a watchdog that
    # fires before a delayed callback arrives replays a prompt whose result was only late.
    "CALLCUE_WATCHDOG_GRACE_SECONDS": "5",
    "CALLCUE_OUTBOX_LEASE_SECONDS": "3",
}


def workload(files: AudioServer, calls: int, prefix: str) -> dict[str, dict[str, Any]]:
    plan = {
        "prompts": [{"audioFileUri": files.url("one.wav")}, {"audioFileUri": files.url("two.wav"), "repeat": 2}],
        "retry": {"maxAttempts": 4, "initialDelayMs": 50, "maxDelayMs": 200},
    }
    return {f"{prefix}-{i}": plan for i in range(calls)}


def revive(stack: DevStack) -> int:
    """Restart every callcue process that has died, as a platform would; how many were."""
    dead = [name for name in stack.exited() if name != "emulator"]
    for name in dead:
        stack.respawn(name)
    return len(dead)


def start_all(stack: DevStack, plans: dict[str, dict[str, Any]]) -> int:
    """Start every plan, retrying (with the same Idempotency-Key) until each got its 202."""
    crashes = 0
    for call, plan in plans.items():
        deadline = time.monotonic() + 30
        while True:
            try:
                with stack.client(timeout=5) as api:
                    answer = api.post(f"/v1/calls/{call}/sequences", json=plan, headers={"Idempotency-Key": call})
                if answer.status_code == 202:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
            crashes += revive(stack)
            time.sleep(0.1)
    return crashes


def supervise(stack: DevStack, calls: list[str], timeout: float) -> tuple[dict[str, dict[str, Any]], int]:
    """Restart what crashed (as a platform would) until every call's sequence has ended."""
    crashes = 0
    deadline = time.monotonic() + timeout
    final: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        crashes += revive(stack)
        try:
            with stack.client(timeout=2) as api:
                for call in calls:
                    if call in final:
                        continue
                    answer = api.get(f"/v1/calls/{call}")
                    if answer.status_code != 200:
                        continue
                    sid = answer.json()["sequences"][-1]["sequenceId"]
                    status = api.get(f"/v1/sequences/{sid}").json()
                    if status["status"] not in ("queued", "running"):
                        final[call] = status
        except httpx.HTTPError:
            pass  # the web process may be down right now
        if len(final) == len(calls):
            break
        time.sleep(0.1)
    return final, crashes


def operations(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for step in status["steps"] for op in step["operations"]]


def conserve(stack: DevStack, scenario: str, calls: list[str], crashes: int = 0, timeout: float = 60) -> Result:
    final, later = supervise(stack, calls, timeout)
    crashes += later
    double = replays = 0
    for call in calls:
        entries = httpx.get(f"{stack.emulator_url}/emulator/calls/{call}/timeline").json().get("entries", [])
        requests = Counter(e["operationContext"] for e in entries if e["kind"] == "playRequest")
        double += sum(n - 1 for n in requests.values() if n > 1)
        status = final.get(call)
        if status is not None:
            # A replay: ACS completed the same (step, repeat) under two operationContexts, because
            # callcue never heard of the first result and retried it.
            position = {op["operationContext"]: (op["step"], op["repeat"]) for op in operations(status)}
            completed = {e["operationContext"] for e in entries if e["kind"] == "callback" and e.get("code") == 200}
            done = Counter(position[ctx] for ctx in completed if ctx in position)
            replays += sum(n - 1 for n in done.values() if n > 1)
    lost = sum(1 for c in calls if final.get(c, {}).get("status") != "completed")
    result = Result(scenario, len(calls), lost, double, replays, crashes)
    RESULTS.append(result)
    return result
