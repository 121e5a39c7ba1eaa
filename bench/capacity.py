"""Capacity: the most concurrent calls one machine sustains with an inter-prompt gap p99 under 50 ms.

Everything on this machine: embedded Redis, the emulator, ``callcue web``, ``--workers`` x ``callcue
worker``, and this load generator. Each call plays one sequence of 4 prompts of 5 s at speed 1 (a
call lasts ~20 s); the calls of a level start spread evenly over one prompt's length, so that the
load is steady once they all run. A level passes when, in the median of its runs, the gap p99 is
under ``--p99-ms`` and in every run every sequence completed (speed that loses a callback does not
count). Levels are tried in ascending order; the first failing level ends the search, and so does the
time budget. ``max_calls`` is the last level that passed (0 when none did).

    python -m bench.capacity [--levels 250,500,1000,1500,2000,2500,3000] [--runs 3] [--workers 2] [--budget 1200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import PromptSet, emit, log, machine, percentile, summarize
from bench.gap import SET_HELP, run_level, settings_env, summarize_cpu, worker_kind


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="250,500,1000,1500,2000,2500,3000")
    parser.add_argument("--runs", type=int, default=3, help="runs per level")
    # Two: on 2 cores a second worker process halves the queueing behind one play (docs/PERFORMANCE.md).
    parser.add_argument("--workers", type=int, default=2, help="callcue worker processes")
    parser.add_argument("--wav-seconds", type=float, default=5.0)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--p99-ms", type=float, default=50.0)
    parser.add_argument(
        "--direct-threads",
        type=int,
        default=0,
        help="EXPERIMENT: bench.direct_worker (no RQ), this many threads per process",
    )
    parser.add_argument("--budget", type=float, default=1200.0, help="seconds; no new level starts after it")
    parser.add_argument("--set", action="append", default=[], metavar="CALLCUE_NAME=VALUE", help=SET_HELP)
    args = parser.parse_args(argv)
    env = settings_env(args.set)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    log(
        f"capacity: levels {levels}, {args.runs} runs each, {args.workers} worker process(es), "
        f"{args.prompts} prompts of {args.wav_seconds:g} s at speed {args.speed:g}, pass: gap p99 < {args.p99_ms:g} ms"
    )
    started = time.monotonic()
    tried: dict[str, Any] = {}
    max_calls = 0
    stopped = "all levels passed"
    with tempfile.TemporaryDirectory(prefix="callcue-bench-capacity-") as tmp:
        prompts = PromptSet(Path(tmp) / "audio", args.wav_seconds).start()
        try:
            for n in levels:
                # A level takes about (prompts + 1) prompt lengths plus start-up and reading.
                per_run = (args.prompts + 2) * args.wav_seconds / args.speed + 10 + n * 0.01  # + the warm-up
                if time.monotonic() - started + per_run * args.runs > args.budget:
                    stopped = f"time budget ({args.budget:g} s) reached before level {n}"
                    break
                p50s: list[float] = []
                p99s: list[float] = []
                peaks: list[float] = []
                cpu: list[dict[str, float]] = []
                complete = True
                for run in range(args.runs):
                    report, statuses = run_level(
                        n,
                        prompts,
                        args.speed,
                        args.prompts,
                        args.workers,
                        f"cap{run}-{n}",
                        Path(tmp) / f"logs-{n}-{run}",
                        args.direct_threads,
                        env=env,
                    )
                    p50s.append(percentile(report.gaps_ms, 50))
                    p99s.append(percentile(report.gaps_ms, 99))
                    peaks.append(float(report.peak_concurrency))
                    cpu.append(report.cpu_ms_per_play)
                    complete = complete and report.complete_calls == n and statuses.get("completed", 0) == n
                p99 = summarize(p99s)["median"]
                passed = complete and p99 is not None and p99 < args.p99_ms
                tried[str(n)] = {
                    "passed": passed,
                    "all_completed": complete,
                    "gap_p50_ms": summarize(p50s),
                    "gap_p99_ms": summarize(p99s),
                    "peak_concurrent_calls": summarize(peaks, 0),
                    "cpu_ms_per_play": summarize_cpu(cpu),
                }
                log(
                    f"  level {n}: gap p99 median {p99} ms, all completed: {complete} -> {'pass' if passed else 'FAIL'}"
                )
                if not passed:
                    stopped = f"level {n} failed"
                    break
                max_calls = n
        finally:
            prompts.stop()
    figures: dict[str, Any] = {
        "max_calls": max_calls,
        "stopped": stopped,
        "levels": tried,
        "workers": args.workers,
        "settings": env,
        "worker": worker_kind(args.direct_threads),
        "criterion": f"gap p99 < {args.p99_ms:g} ms (median of {args.runs} runs), every sequence completed",
        "prompt_seconds": args.wav_seconds / args.speed,
        "elapsed_s": round(time.monotonic() - started, 1),
        "machine": machine(),
    }
    print(f"\ncapacity: max_calls = {max_calls} ({stopped}); per level:")
    for name, level in tried.items():
        print(
            f"  {name:>5} calls: gap p50 {level['gap_p50_ms']['median']} ms, p99 {level['gap_p99_ms']['median']} ms "
            f"[{level['gap_p99_ms']['min']}-{level['gap_p99_ms']['max']}], peak concurrent "
            f"{level['peak_concurrent_calls']['median']}, {'pass' if level['passed'] else 'FAIL'}"
        )
    emit("capacity", figures)
    return figures


if __name__ == "__main__":
    main()
