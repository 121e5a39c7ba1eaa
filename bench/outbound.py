"""Outbound: play requests per second one callcue worker process issues, against a loop of the official SDK.

Each run starts a fresh DevStack with no worker and the GA dialect at the SDK's default api-version,
so that both sides send the same request to the same emulator. Then:

- callcue: ``--plays`` sequences are started at once (their first plays wait in the outbox), then
  ONE ``callcue worker`` process is started and drains them: its pump claims the outbox entries and
  enqueues RQ jobs, its SimpleWorker runs them (ledger write, signed HTTP request, acceptance write).
  ``plays_per_s`` = the number of ``playRequest`` entries at the emulator over the time from the first
  to the last one.
- SDK: ``azure-communication-callautomation``'s ``CallConnectionClient.play_media`` in a loop from one
  process (this one), the client built once over plain http with ``CallAutomationClient(endpoint,
  AzureKeyCredential(key))`` (``from_connection_string`` would force https), one play per call id.

Prompts last longer than the measurement, so no completion callback arrives during it on either side.

    python -m bench.outbound [--runs 3] [--plays 1500]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    PromptSet,
    cpu_seconds,
    emit,
    log,
    machine,
    play_request_times,
    read_timelines,
    spawn_direct_workers,
    start_calls,
    stop_processes,
    summarize,
)
from bench.gap import worker_kind
from service.devstack import DevStack


def sdk_version() -> str:
    from azure.communication.callautomation._api_versions import DEFAULT_VERSION

    return str(DEFAULT_VERSION)


def _seen(stack: DevStack, tag: str) -> int:
    assert stack.emulator_url is not None
    calls = httpx.get(f"{stack.emulator_url}/emulator/calls", timeout=10).json()["calls"]
    return sum(1 for c in calls if str(c["callConnectionId"]).startswith(tag + "-"))


def callcue_rate(
    stack: DevStack,
    prompts: PromptSet,
    plays: int,
    tag: str,
    on_running: Callable[[int], None] | None = None,
    direct_threads: int = 0,
) -> tuple[float, float]:
    """Plays/s of one worker draining ``plays`` queued first plays, and its CPU ms per play.

    ``on_running(pid)`` is called once the worker's first play reached the emulator (bench.profile
    attaches py-spy there). ``direct_threads`` > 0: bench.direct_worker (the no-RQ experiment)."""
    assert stack.emulator_url is not None
    call_ids = [f"{tag}-{i:05d}" for i in range(plays)]
    start_calls(stack, call_ids, prompts.plan(1), spread_s=0.0, concurrency=8, timeout=300)
    direct: list[subprocess.Popen[bytes]] = []
    if direct_threads:
        direct = spawn_direct_workers(stack, 1, direct_threads, stack.log_dir)
        pid = direct[0].pid
    else:
        stack.respawn("worker1")
        pid = stack.processes["worker1"].pid
    try:
        deadline = time.monotonic() + 60 + plays / 20
        # CPU is counted from the first play on: the worker's start-up (imports, connections) is not a play.
        while _seen(stack, tag) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        cpu0 = cpu_seconds(pid)
        seen0 = _seen(stack, tag)
        if on_running is not None:
            on_running(pid)
        while time.monotonic() < deadline and _seen(stack, tag) < plays:
            time.sleep(0.5)
        cpu = cpu_seconds(pid) - cpu0
    finally:
        stop_processes(direct)
    times = play_request_times(read_timelines(stack.emulator_url, call_ids))
    if len(times) < plays:
        raise RuntimeError(f"only {len(times)} of {plays} plays reached the emulator")
    # From the first play to the last: the worker's start-up is not part of the rate.
    rate = (len(times) - 1) / (times[-1] - times[0])
    return rate, 1000 * cpu / max(plays - seen0, 1)


def sdk_rate(stack: DevStack, prompts: PromptSet, plays: int, tag: str) -> float:
    from azure.communication.callautomation import CallAutomationClient, FileSource
    from azure.core.credentials import AzureKeyCredential

    assert stack.emulator_url is not None and prompts.server is not None
    key = stack.env["CALLCUE_ACS_CONNECTION_STRING"].split("accesskey=", 1)[1]
    client = CallAutomationClient(stack.emulator_url, AzureKeyCredential(key), api_version=sdk_version())
    callback = f"{stack.web_url}/callbacks/acs?secret={stack.env['CALLCUE_CALLBACK_SECRETS'].split(',')[0]}"
    source = FileSource(prompts.server.url(prompts.names[0]), play_source_cache_id=f"bench-{prompts.names[0]}")
    # One warm-up play: connection set-up and the client's lazy imports are not what is measured.
    client.get_call_connection(f"{tag}-warm").play_media(
        source, operation_context="warm", operation_callback_url=callback
    )
    t0 = time.perf_counter()
    for i in range(plays):
        connection = client.get_call_connection(f"{tag}-{i:05d}")
        connection.play_media(source, operation_context=f"{tag}.{i}", operation_callback_url=callback)
    elapsed = time.perf_counter() - t0
    client.close()
    return plays / elapsed


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.outbound", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--plays", type=int, default=1500)
    parser.add_argument("--wav-seconds", type=float, default=60.0, help="longer than the measurement")
    parser.add_argument(
        "--direct-threads", type=int, default=0, help="EXPERIMENT: bench.direct_worker (no RQ), this many threads"
    )
    args = parser.parse_args(argv)
    version = sdk_version()
    log(f"outbound: {args.runs} runs, {args.plays} plays per side, GA api-version {version} on both sides")
    ours: list[float] = []
    sdk: list[float] = []
    cpu: list[float] = []
    with tempfile.TemporaryDirectory(prefix="callcue-bench-outbound-") as tmp:
        prompts = PromptSet(Path(tmp) / "audio", args.wav_seconds, count=1).start()
        try:
            for run in range(args.runs):
                with DevStack(workers=0, api_version=version, log_dir=Path(tmp) / f"run{run}") as stack:
                    # Alternate which side goes first, so that a drift in the machine's load is shared.
                    if run % 2:
                        sdk.append(sdk_rate(stack, prompts, args.plays, f"sdk{run}"))
                        rate, ms = callcue_rate(
                            stack, prompts, args.plays, f"cc{run}", direct_threads=args.direct_threads
                        )
                    else:
                        rate, ms = callcue_rate(
                            stack, prompts, args.plays, f"cc{run}", direct_threads=args.direct_threads
                        )
                        sdk.append(sdk_rate(stack, prompts, args.plays, f"sdk{run}"))
                    ours.append(rate)
                    cpu.append(ms)
                log(
                    f"  run {run + 1}: callcue worker {ours[-1]:.0f} plays/s ({cpu[-1]:.2f} ms CPU per play), "
                    f"SDK play_media loop {sdk[-1]:.0f} plays/s, ratio {ours[-1] / sdk[-1]:.2f}"
                )
        finally:
            prompts.stop()
    ratios = [a / b for a, b in zip(ours, sdk, strict=True)]
    figures: dict[str, Any] = {
        "plays_per_s": summarize(ours, 1)["median"],
        "sdk_plays_per_s": summarize(sdk, 1)["median"],
        "outbound_ratio": summarize(ratios, 3)["median"],
        "detail": {
            "plays_per_s": summarize(ours, 1),
            "sdk_plays_per_s": summarize(sdk, 1),
            "outbound_ratio": summarize(ratios, 3),
            "worker_cpu_ms_per_play": summarize(cpu, 2),
        },
        "api_version": version,
        "worker": worker_kind(args.direct_threads),
        "plays": args.plays,
        "machine": machine(),
    }
    d = figures["detail"]
    print("\noutbound play requests (medians of runs, [min-max]):")
    print(
        f"  callcue, one worker process  {figures['plays_per_s']} plays/s "
        f"[{d['plays_per_s']['min']}-{d['plays_per_s']['max']}], {d['worker_cpu_ms_per_play']['median']} ms CPU/play"
    )
    print(
        f"  SDK play_media loop          {figures['sdk_plays_per_s']} plays/s "
        f"[{d['sdk_plays_per_s']['min']}-{d['sdk_plays_per_s']['max']}]"
    )
    print(f"  outbound_ratio               {figures['outbound_ratio']}")
    emit("outbound", figures)
    return figures


if __name__ == "__main__":
    main()
