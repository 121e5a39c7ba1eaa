"""EXPERIMENT: bench.gap and bench.outbound with RQ taken off the play path (bench.direct_worker).

Not callcue's figures: evidence for the first change proposed in docs/PERFORMANCE.md. The web, the
store, the sequencing, the pump's claim-with-lease and the play job are callcue's code, unchanged;
only the hand-over from the pump to the job is direct (a thread pool) instead of an RQ job.

    python -m bench.whatif [--runs 3] [--threads 4] [--capacity]
"""

from __future__ import annotations

import argparse
from typing import Any

from bench import capacity, gap, outbound
from bench.common import emit, log


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.whatif", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="threads of the direct worker")
    parser.add_argument("--levels", default="1,100,1000")
    parser.add_argument("--capacity", action="store_true", help="also bench.capacity (up to 10 more minutes)")
    args = parser.parse_args(argv)
    common = ["--runs", str(args.runs), "--direct-threads", str(args.threads)]
    log("whatif: the same benchmarks with bench.direct_worker (no RQ) in place of callcue worker")
    figures: dict[str, Any] = {
        "gap": gap.main([*common, "--levels", args.levels]),
        "outbound": outbound.main(common),
    }
    if args.capacity:
        figures["capacity"] = capacity.main(common)
    headline = {
        "gap_p50_ms": figures["gap"]["gap_p50_ms"],
        "gap_p99_ms": figures["gap"]["gap_p99_ms"],
        "plays_per_s": figures["outbound"]["plays_per_s"],
        "sdk_plays_per_s": figures["outbound"]["sdk_plays_per_s"],
        "outbound_ratio": figures["outbound"]["outbound_ratio"],
    }
    if args.capacity:
        headline["max_calls"] = figures["capacity"]["max_calls"]
    emit("whatif", {**headline, "detail": figures, "experiment": "bench.direct_worker, no RQ on the play path"})
    return figures


if __name__ == "__main__":
    main()
