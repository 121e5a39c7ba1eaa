"""Inter-prompt gap: from the emulator sending a play's completion callback to it receiving the next play request.

For each level (concurrent calls) a fresh DevStack is started (embedded Redis, emulator, ``callcue
web``, ``--workers`` x ``callcue worker``); one sequence of ``--prompts`` prompts is started per call,
the starts spread evenly over one prompt's duration (calls arrive steadily rather than all in the same
millisecond), and after the last sequence could have ended every call's emulator timeline is read:
each ``callback`` (first attempt of a 200/0 completion) paired with the call's next ``playRequest``
is one gap. A run counts only if every sequence completed (speed that loses a callback does not count);
the wait for that is bounded, and a call still waiting for its next play when the wait ends counts a
gap as long as it has waited so far (a lower bound). Also reported: the silence a caller hears,
``playEnded`` -> next ``playStarted`` at the emulator, which adds the emulator's own queueing.

The default prompt length, 2.5 s (5 s files at speed 2), makes 1,000 calls ask for 400 plays/s: the
same rate as the capacity target (2,000 calls of 5 s prompts).

    python -m bench.gap [--levels 1,100,1000] [--runs 3] [--workers 2] [--wav-seconds 5 --speed 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    GapReport,
    PromptSet,
    check_sequences,
    cpu_seconds,
    emit,
    gap_report,
    gc_pauses_in,
    log,
    machine,
    percentile,
    spawn_direct_workers,
    spawn_gcwatch,
    start_calls,
    stop_processes,
    summarize,
    wait_for_calls,
    wait_healthy,
    warm_up,
)
from service.devstack import DevStack


def run_level(
    calls: int,
    prompts: PromptSet,
    speed: float,
    n_prompts: int,
    workers: int,
    tag: str,
    log_dir: Path,
    direct_threads: int = 0,
    gc_mode: str = "",
    gc_pauses: list[float] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[GapReport, dict[str, int]]:
    """One level. ``env``: settings for callcue's processes (``--set``). EXPERIMENTS: ``direct_threads``
    > 0 runs bench.direct_worker (no RQ) instead of ``callcue worker``; ``gc_mode`` "watch" or "freeze"
    runs web and workers under bench.gcwatch, and the collections longer than 5 ms are appended to
    ``gc_pauses`` (ms)."""
    wrapped = bool(direct_threads or gc_mode)
    with DevStack(workers=0 if wrapped else workers, speed=speed, log_dir=log_dir, extra_env=env or {}) as stack:
        ours: list[subprocess.Popen[bytes]] = []
        since_ms = int(time.time() * 1000)
        try:
            if gc_mode:
                stack.stop_process("web")
                ours.append(spawn_gcwatch(stack, "web", gc_mode, log_dir))
                wait_healthy(f"{stack.web_url}/healthz", ours[-1])
                if not direct_threads:
                    ours += [spawn_gcwatch(stack, "worker", gc_mode, log_dir, i) for i in range(workers)]
            if direct_threads:
                freeze = ["--gc-freeze"] if gc_mode == "freeze" else []
                ours += spawn_direct_workers(stack, workers, direct_threads, log_dir, *freeze)
            if wrapped:  # as DevStack does for its own workers: measure a stack that has started
                stack.wait_workers(workers, since_ms, rq_workers=not direct_threads)
            return _measure_level(stack, calls, prompts, speed, n_prompts, tag, ours)
        finally:
            stop_processes(ours)
            if gc_pauses is not None:
                gc_pauses += gc_pauses_in(log_dir)


CPU_PARTS = ("web", "workers", "emulator", "redis")  # the workers' processes are added together


def _cpu(stack: DevStack, extra: list[subprocess.Popen[bytes]]) -> dict[str, float]:
    """CPU seconds so far of the stack's processes, by CPU_PARTS."""
    out = dict.fromkeys(CPU_PARTS, 0.0)
    processes = [*stack.processes.items(), *(("worker", p) for p in extra)]
    if stack.redis is not None and stack.redis.process is not None:
        processes.append(("redis", stack.redis.process))
    for name, process in processes:
        if process.poll() is None:
            kind = name if name in CPU_PARTS else "workers"
            out[kind] += cpu_seconds(process.pid)
    return out


def _measure_level(
    stack: DevStack,
    calls: int,
    prompts: PromptSet,
    speed: float,
    n_prompts: int,
    tag: str,
    extra: list[subprocess.Popen[bytes]],
) -> tuple[GapReport, dict[str, int]]:
    play_s = prompts.seconds / speed
    assert stack.emulator_url is not None
    call_ids = [f"{tag}-{i:05d}" for i in range(calls)]
    warm_up(stack, prompts, speed, tag)
    cpu_before = _cpu(stack, extra)
    t0 = time.time()
    started = start_calls(stack, call_ids, prompts.plan(n_prompts), spread_s=play_s if calls > 1 else 0.0)
    create_s = time.time() - t0
    # The last call started at ~create_s; its sequence needs n_prompts plays; then some slack.
    expected_end = t0 + create_s + n_prompts * play_s + 0.5
    # CPU is read when the sequences should have ended, before the timelines are read back.
    time.sleep(max(0.0, expected_end - time.time()))
    cpu_after = _cpu(stack, extra)
    # Bounded: an overloaded level is reported as it stands, not waited for without end.
    timelines = wait_for_calls(
        stack.emulator_url, call_ids, n_prompts, not_before=expected_end, timeout=min(60.0, 20.0 + calls * 0.04)
    )
    observed_until = time.time()
    statuses = check_sequences(stack, started)
    report = gap_report(timelines, n_prompts, observed_until)
    report.cpu_ms_per_play = {
        k: round((cpu_after[k] - cpu_before[k]) * 1000 / max(1, calls * n_prompts), 3) for k in cpu_before
    }
    log(
        f"  {calls:>5} calls ({tag}): started in {create_s:.1f} s, peak {report.peak_concurrency} concurrent, "
        f"{report.complete_calls}/{calls} complete, statuses {statuses}, {len(report.gaps_ms)} gaps: "
        f"p50 {percentile(report.gaps_ms, 50):.1f} ms, p99 {percentile(report.gaps_ms, 99):.1f} ms, "
        f"max {max(report.gaps_ms, default=0):.1f} ms; caller-heard silence p50 "
        f"{percentile(report.silence_ms, 50):.1f} ms, p99 {percentile(report.silence_ms, 99):.1f} ms; "
        f"CPU ms per play {report.cpu_ms_per_play}"
    )
    return report, statuses


def summarize_cpu(runs: list[dict[str, float]]) -> dict[str, Any]:
    """CPU ms per play of each part over a level's runs."""
    return {k: summarize([run[k] for run in runs], 3) for k in CPU_PARTS}


SET_HELP = "a setting for callcue's processes in every run, e.g. CALLCUE_JOB_SESSION_SECONDS=0 (repeatable)"


def settings_env(pairs: list[str]) -> dict[str, str]:
    """``--set`` options as an environment for DevStack: callcue's own settings only."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("CALLCUE_"):
            raise SystemExit(f"--set takes CALLCUE_NAME=VALUE, not {pair!r}")
        env[name] = value
    return env


def worker_kind(direct_threads: int, gc_mode: str = "") -> str:
    kind = "callcue worker (RQ SimpleWorker + pump)"
    if direct_threads:
        kind = f"bench.direct_worker (EXPERIMENT: no RQ, {direct_threads} threads)"
    if gc_mode:
        kind += f", web and worker under bench.gcwatch ({gc_mode})"
    return kind


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.gap", description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,100,1000", help="concurrent calls, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    # Two: on 2 cores a second worker process halves the queueing behind one play (docs/PERFORMANCE.md).
    parser.add_argument("--workers", type=int, default=2, help="callcue worker processes")
    parser.add_argument("--wav-seconds", type=float, default=5.0, help="length of each prompt file")
    parser.add_argument("--speed", type=float, default=2.0, help="emulator speed factor")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per sequence")
    parser.add_argument(
        "--direct-threads",
        type=int,
        default=0,
        help="EXPERIMENT: bench.direct_worker (no RQ), this many threads per process",
    )
    parser.add_argument(
        "--gc",
        choices=["", "watch", "freeze"],
        default="",
        help="EXPERIMENT: run web and workers under bench.gcwatch (log or freeze collections)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="CALLCUE_NAME=VALUE", help=SET_HELP)
    args = parser.parse_args(argv)
    env = settings_env(args.set)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    play_s = args.wav_seconds / args.speed
    log(
        f"gap: levels {levels}, {args.runs} runs, {args.workers} x {worker_kind(args.direct_threads, args.gc)}, "
        f"sequences of {args.prompts} prompts of {args.wav_seconds:g} s at speed {args.speed:g} ({play_s:g} s each)"
    )
    pauses: dict[int, list[float]] = {n: [] for n in levels}
    per_level: dict[int, dict[str, list[float]]] = {
        n: {"p50": [], "p99": [], "max": [], "sil50": [], "sil99": [], "peak": [], "ok": [], "load": []} for n in levels
    }
    cpu: dict[int, list[dict[str, float]]] = {n: [] for n in levels}
    with tempfile.TemporaryDirectory(prefix="callcue-bench-gap-") as tmp:
        prompts = PromptSet(Path(tmp) / "audio", args.wav_seconds).start()
        try:
            for run in range(args.runs):
                for n in levels:
                    per_level[n]["load"].append(os.getloadavg()[0])
                    report, statuses = run_level(
                        n,
                        prompts,
                        args.speed,
                        args.prompts,
                        args.workers,
                        f"gap{run}-{n}",
                        Path(tmp) / f"logs-{run}-{n}",
                        args.direct_threads,
                        args.gc,
                        pauses[n],
                        env,
                    )
                    cpu[n].append(report.cpu_ms_per_play)
                    ok = report.complete_calls == n and statuses.get("completed", 0) == n
                    fig = per_level[n]
                    fig["ok"].append(1.0 if ok else 0.0)
                    fig["peak"].append(float(report.peak_concurrency))
                    fig["p50"].append(percentile(report.gaps_ms, 50))
                    fig["p99"].append(percentile(report.gaps_ms, 99))
                    fig["max"].append(max(report.gaps_ms, default=float("nan")))
                    fig["sil50"].append(percentile(report.silence_ms, 50))
                    fig["sil99"].append(percentile(report.silence_ms, 99))
        finally:
            prompts.stop()
    figures: dict[str, Any] = {
        "gap_p50_ms": {str(n): summarize(per_level[n]["p50"])["median"] for n in levels},
        "gap_p99_ms": {str(n): summarize(per_level[n]["p99"])["median"] for n in levels},
        "detail": {
            str(n): {
                "gap_p50_ms": summarize(per_level[n]["p50"]),
                "gap_p99_ms": summarize(per_level[n]["p99"]),
                "gap_max_ms": summarize(per_level[n]["max"]),
                "silence_p50_ms": summarize(per_level[n]["sil50"]),
                "silence_p99_ms": summarize(per_level[n]["sil99"]),
                "peak_concurrent_calls": summarize(per_level[n]["peak"], 0),
                "runs_all_completed": int(sum(per_level[n]["ok"])),
                "loadavg_1min_at_start": [round(x, 2) for x in per_level[n]["load"]],
                "cpu_ms_per_play": summarize_cpu(cpu[n]),
                **(
                    {
                        "gc_pauses_over_5ms": {
                            "count": len(pauses[n]),
                            "max_ms": round(max(pauses[n], default=0), 1),
                            "total_ms": round(sum(pauses[n]), 1),
                        }
                    }
                    if args.gc or args.direct_threads
                    else {}
                ),
            }
            for n in levels
        },
        "workers": args.workers,
        "worker": worker_kind(args.direct_threads, args.gc),
        "settings": env,
        "runs": args.runs,
        "prompt_seconds": play_s,
        "speed": args.speed,
        "prompts_per_sequence": args.prompts,
        "machine": machine(),
    }
    print("\ninter-prompt gap (callback sent -> next play request received), medians of runs [min-max]:")
    for n in levels:
        d = figures["detail"][str(n)]
        print(
            f"  {n:>5} calls: p50 {d['gap_p50_ms']['median']} ms [{d['gap_p50_ms']['min']}-{d['gap_p50_ms']['max']}]"
            f"  p99 {d['gap_p99_ms']['median']} ms [{d['gap_p99_ms']['min']}-{d['gap_p99_ms']['max']}]"
            f"  caller-heard silence p50 {d['silence_p50_ms']['median']} / p99 {d['silence_p99_ms']['median']} ms"
            f"  ({d['runs_all_completed']}/{args.runs} runs all completed)"
            f"  CPU ms per play: " + ", ".join(f"{k} {v['median']}" for k, v in d["cpu_ms_per_play"].items())
        )
    emit("gap", figures)
    return figures


if __name__ == "__main__":
    main()
