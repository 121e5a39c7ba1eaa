"""docs/perf-gap.png: inter-prompt gap percentiles against concurrent calls, from a results file.

    python -m bench.plot [bench/results/latest.json] [--out docs/perf-gap.png]

Left: bench.gap (medians of runs, bars from the lowest to the highest run). Right: bench.capacity's
levels, when the results hold them. Dashed lines: the targets of issue 6.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = Path(__file__).with_name("results") / "latest.json"
DEFAULT_OUT = ROOT / "docs" / "perf-gap.png"


def _finish(ax: Any, levels: list[int], plain: Any) -> None:
    """Grid, plain (not scientific) tick labels, one tick per measured level, and the legend."""
    from matplotlib.ticker import FuncFormatter

    ax.grid(True, which="both", alpha=0.3)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    ax.set_xticks(levels)  # every measured level labelled
    ax.legend(fontsize=7)


def _series(detail: dict[str, Any], key: str) -> tuple[list[int], list[float], list[float], list[float]]:
    levels = sorted(int(n) for n in detail)
    mid: list[float] = []
    low: list[float] = []
    high: list[float] = []
    for n in levels:
        fig = detail[str(n)][key]
        mid.append(float(fig["median"]))
        low.append(float(fig["median"]) - float(fig["min"]))
        high.append(float(fig["max"]) - float(fig["median"]))
    return levels, mid, low, high


def plot(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")

    gap = results.get("gap") or {}
    capacity = results.get("capacity") or {}
    panels = 2 if capacity.get("levels") else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.6), squeeze=False)
    ax = axes[0][0]
    detail = gap.get("detail", {})
    if detail:
        for key, label, style in (
            ("gap_p50_ms", "p50", "o-"),
            ("gap_p99_ms", "p99", "s-"),
            ("gap_max_ms", "max", "^:"),
        ):
            levels, mid, low, high = _series(detail, key)
            ax.errorbar(levels, mid, yerr=[low, high], fmt=style, capsize=3, label=label)
        experiment = ((results.get("whatif") or {}).get("gap") or {}).get("detail", {})
        if experiment:
            for key, label in (("gap_p50_ms", "p50, experiment: no RQ"), ("gap_p99_ms", "p99, experiment: no RQ")):
                levels, mid, low, high = _series(experiment, key)
                ax.errorbar(levels, mid, yerr=[low, high], fmt="x--", capsize=3, alpha=0.7, label=label)
        ax.axhline(5, color="tab:blue", ls="--", lw=0.8, label="target p50 ≤ 5 ms (100 calls)")
        ax.axhline(20, color="tab:orange", ls="--", lw=0.8, label="target p99 ≤ 20 ms (100 calls)")
        ax.axhline(50, color="tab:red", ls="--", lw=0.8, label="target p99 ≤ 50 ms (1,000 calls)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("concurrent calls")
        ax.set_ylabel("gap: callback sent → next play request (ms)")
        prompt = gap.get("prompt_seconds")
        ax.set_title(f"bench.gap: {gap.get('workers')} worker, {prompt:g} s prompts, medians of {gap.get('runs')} runs")
        _finish(ax, levels, plain)
    if panels == 2:
        ax = axes[0][1]
        levels_fig = capacity["levels"]
        for key, label, style in (("gap_p50_ms", "p50", "o-"), ("gap_p99_ms", "p99", "s-")):
            levels, mid, low, high = _series(levels_fig, key)
            ax.errorbar(levels, mid, yerr=[low, high], fmt=style, capsize=3, label=label)
        failed = [int(n) for n, v in levels_fig.items() if not v["passed"]]
        for n in failed:
            ax.axvline(n, color="tab:red", alpha=0.3, lw=6)
        ax.axhline(50, color="tab:red", ls="--", lw=0.8, label="pass: p99 < 50 ms")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("concurrent calls (red band: failed level)")
        ax.set_ylabel("gap (ms)")
        ax.set_title(f"bench.capacity: 5 s prompts, max_calls = {capacity.get('max_calls')}")
        _finish(ax, levels, plain)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="?", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    plot(json.loads(args.results.read_text()), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
