"""``python -m bench`` (``make bench``): every benchmark in turn, then the plot and one JSON line of all figures.

    python -m bench [--quick] [--only ingest,gap,...] [--skip profile] [--experiments] [--results bench/results]

Each benchmark runs in this process with its own defaults (``--quick``: one short run each, to check
that the suite works, not to quote). A benchmark that fails is reported and the others still run. The
figures go to ``<results>/<UTC time>.json`` and ``<results>/latest.json``, the plot to docs/perf-gap.png,
and the last line printed is one JSON object with the headline figures and each target met or missed.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import capacity, footprint, gap, ingest, outbound, plot, profile, whatif
from bench.common import emit, log, machine

SUITE: dict[str, tuple[Callable[[list[str] | None], dict[str, Any]], list[str]]] = {
    "ingest": (ingest.main, ["--runs", "1", "--duration", "5", "--sequences", "4000"]),
    "gap": (gap.main, ["--runs", "1", "--levels", "1,100"]),
    "outbound": (outbound.main, ["--runs", "1", "--plays", "500"]),
    "capacity": (capacity.main, ["--runs", "1", "--levels", "50,100", "--budget", "120"]),
    "footprint": (footprint.main, ["--calls", "200"]),
    "profile": (profile.main, ["--sequences", "3000", "--duration", "6", "--plays", "400"]),
    "whatif": (whatif.main, ["--runs", "1", "--levels", "1,100"]),
}
EXPERIMENTS = {"whatif"}  # not callcue's figures: run only with --experiments (or --only)


def _value(figure: Any) -> float | None:
    return float(figure) if isinstance(figure, int | float) and not math.isnan(float(figure)) else None


def targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 6's targets against the figures: the measured value, the target, met or not."""
    ingest_fig = results.get("ingest") or {}
    gap_fig = results.get("gap") or {}
    out_fig = results.get("outbound") or {}
    cap_fig = results.get("capacity") or {}
    foot_fig = results.get("footprint") or {}
    p50 = gap_fig.get("gap_p50_ms") or {}
    p99 = gap_fig.get("gap_p99_ms") or {}
    rows: list[tuple[str, float | None, str, float]] = [
        ("ingest_ratio", _value(ingest_fig.get("ingest_ratio")), ">=", 0.35),
        ("gap_p50_ms@100", _value(p50.get("100")), "<=", 5.0),
        ("gap_p99_ms@100", _value(p99.get("100")), "<=", 20.0),
        ("gap_p99_ms@1000", _value(p99.get("1000")), "<=", 50.0),
        ("outbound_ratio", _value(out_fig.get("outbound_ratio")), ">=", 1.0),
        ("max_calls", _value(cap_fig.get("max_calls")), ">=", 2000.0),
        (
            "redis_bytes_per_finished_operation",
            _value(foot_fig.get("redis_bytes_per_finished_operation")),
            "<=",
            2048.0,
        ),
    ]
    out: dict[str, dict[str, Any]] = {}
    for name, value, op, target in rows:
        met = None if value is None else (value >= target if op == ">=" else value <= target)
        out[name] = {"value": value, "target": f"{op} {target:g}", "met": met}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short run of each: a smoke test, not figures")
    parser.add_argument("--only", default="", help="comma-separated benchmarks to run")
    parser.add_argument("--skip", default="", help="comma-separated benchmarks to leave out")
    parser.add_argument("--experiments", action="store_true", help="also bench.whatif (the no-RQ experiment)")
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("results"))
    parser.add_argument("--plot", type=Path, default=plot.DEFAULT_OUT)
    args = parser.parse_args(argv)
    only = [n for n in args.only.split(",") if n]
    skip = set(args.skip.split(",")) | (set() if args.experiments or only else EXPERIMENTS)
    chosen = [n for n in SUITE if (not only or n in only) and n not in skip]
    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    errors: dict[str, str] = {}
    for name in chosen:
        run, quick_args = SUITE[name]
        log(f"\n=== bench.{name} ===")
        t0 = time.monotonic()
        try:
            argv = list(quick_args) if args.quick else []
            if name == "profile" and args.quick:  # a smoke run must not replace bench/profiles/SUMMARY.md
                argv += ["--out", str(args.results / "profiles-quick")]
            results[name] = run(argv)
            results[name]["elapsed_s"] = round(time.monotonic() - t0, 1)
        except Exception as exc:  # one failing benchmark must not cost the others
            errors[name] = f"{type(exc).__name__}: {exc}"
            log(traceback.format_exc())
    results["errors"] = errors
    results["targets"] = targets(results)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    text = json.dumps(results, indent=1, allow_nan=False)
    (args.results / f"{stamp}{'-quick' if args.quick else ''}.json").write_text(text)
    complete = not args.quick and not only and not errors
    if complete:  # only a full, successful suite replaces the figures the docs quote
        (args.results / "latest.json").write_text(text)
    if "gap" in results:
        plot.plot(results, args.plot if complete else args.results / f"perf-gap-{stamp}.png")
    print("\ntargets (issue 6):")
    for name, row in results["targets"].items():
        verdict = "n/a" if row["met"] is None else ("met" if row["met"] else "MISSED")
        print(f"  {name:<36} {row['value']!s:>10}  target {row['target']:<8} {verdict}")
    headline: dict[str, Any] = {}
    for name, keys in (
        (
            "ingest",
            (
                "ingest_rps",
                "bare_rps",
                "ingest_ratio",
                "ingest_p50_ms",
                "ingest_p99_ms",
                "bare_p50_ms",
                "bare_p99_ms",
                "duplicate_rps",
                "duplicate_ratio",
            ),
        ),
        ("gap", ("gap_p50_ms", "gap_p99_ms", "workers")),
        ("outbound", ("plays_per_s", "sdk_plays_per_s", "outbound_ratio")),
        ("capacity", ("max_calls",)),
        (
            "footprint",
            ("redis_bytes_per_active_sequence", "redis_bytes_per_finished_operation", "web_rss_mib", "worker_rss_mib"),
        ),
    ):
        for key in keys:
            if key in (results.get(name) or {}):
                headline[key if key != "workers" else "gap_workers"] = results[name][key]
    emit(
        "all",
        {
            **headline,
            "targets": {k: v["met"] for k, v in results["targets"].items()},
            "errors": errors,
            "elapsed_s": results["elapsed_s"],
        },
    )
    return results


if __name__ == "__main__":
    main()
