"""Callback ingest: requests/s and latency of POST /callbacks/acs under wrk, against a bare Starlette endpoint.

Each run starts a fresh DevStack with no worker (embedded Redis, the emulator idle, one ``callcue
web`` process), creates ``--sequences`` sequences through the API (on GUID call ids, 4 prompts x 4
repeats each), and starts the bare endpoint (``bench.bare_app``, one uvicorn process, same settings).
Then, with the same wrk settings (``--threads`` x ``--connections``, ``--duration``), it measures:

- ``bare``: the bare endpoint, same bodies;
- ``first``: every request the first delivery of a PlayAudioResult completion for a sequence's
  current operation: authenticate, parse, validate the CloudEvent, then the transition: one Lua
  script for a completion whose next play is due (service.express: dedupe, documents, event history,
  timeline, outbox entry for the next play and a wake-up for the pump), or, for a sequence's last
  play, load (one Lua script), decide, commit (one Lua script, the same writes after a version
  check). The RQ enqueue is *not* on this path: by design the worker's pump turns outbox entries into
  RQ jobs. After the pass the sequences are read back to count how many completions were really
  applied;
- ``duplicate``: every request a completion already applied (operation 0 again): the dedupe path
  (the express script finds the event applied and appends the copy to the operation's history).

``ingest_rps`` / ``ingest_ratio`` are the ``first`` pass (the path that matters); the duplicate pass is
reported beside it. Needs ``wrk`` (Debian package ``wrk``).

    python -m bench.ingest [--runs 3] [--duration 10] [--sequences 8000]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.common import cpu_seconds, emit, log, machine, start_calls, summarize
from service.devstack import DevStack
from service.embedded_redis import free_port
from service.processes import terminate

LUA = Path(__file__).with_name("wrk") / "callback.lua"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class WrkResult:
    rps: float
    requests: int
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers + socket errors

    def to_json(self) -> dict[str, Any]:
        return {
            "rps": round(self.rps, 1),
            "requests": self.requests,
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "errors": self.errors,
        }


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not found:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    return WrkResult(rps, requests, p50, p99, errors)


def run_wrk(
    url: str, contexts: Path, mode: str, secret: str, threads: int, connections: int, duration: float
) -> WrkResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench.ingest needs wrk: apt-get install wrk")
    args = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        url,
        "--",
        str(contexts),
        mode,
        secret,
        str(threads),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=duration + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


class BareServer:
    """bench.bare_app under its own uvicorn process, started and stopped by us."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/callbacks/acs"
        log_file = open(log_dir / "bare.log", "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        log_file.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.post(self.url, content=b"[]", timeout=1).status_code == 202:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the bare endpoint did not start")

    def stop(self) -> None:
        terminate(self.process)


def plan() -> dict[str, Any]:
    # No worker runs, so these URIs are never fetched; 16 operations per sequence at most.
    return {"prompts": [{"audioFileUri": f"http://127.0.0.1:9/prompt-{i}.wav", "repeat": 4} for i in range(4)]}


def count_ops(redis_url: str, sids: list[str]) -> dict[str, int]:
    """Operation statuses over every sequence, read straight from Redis."""
    client = redis.Redis.from_url(redis_url)
    counts: dict[str, int] = {}
    try:
        for start in range(0, len(sids), 500):
            pipe = client.pipeline(transaction=False)
            for sid in sids[start : start + 500]:
                pipe.hget(f"cc:seq:{sid}", "d")
            for raw in pipe.execute():
                if raw is None:
                    counts["missing"] = counts.get("missing", 0) + 1
                    continue
                for op in json.loads(raw)["ops"]:
                    counts[op["st"]] = counts.get(op["st"], 0) + 1
    finally:
        client.close()
    return counts


def one_run(args: argparse.Namespace, run: int, tmp: Path) -> dict[str, Any]:
    log_dir = tmp / f"run{run}"
    log_dir.mkdir()
    with DevStack(workers=0, log_dir=log_dir) as stack:
        secret = stack.env["CALLCUE_CALLBACK_SECRETS"].split(",")[0]
        calls = [str(uuid.uuid4()) for _ in range(args.sequences)]
        t0 = time.monotonic()
        started = start_calls(stack, calls, plan(), spread_s=0.0, concurrency=8, timeout=300)
        log(f"  run {run + 1}: {len(started)} sequences created in {time.monotonic() - t0:.1f} s")
        contexts = log_dir / "contexts.txt"
        contexts.write_text("".join(f"{s.call_id} {s.sequence_id}\n" for s in started))
        bare = BareServer(log_dir)
        web_pid = stack.processes["web"].pid
        redis_pid = stack.redis.process.pid if stack.redis is not None and stack.redis.process is not None else None

        def cpu() -> tuple[float, float]:  # web, Redis (0 when Redis is not ours to measure)
            return cpu_seconds(web_pid), cpu_seconds(redis_pid) if redis_pid is not None else 0.0

        try:
            common = (secret, args.threads, args.connections, args.duration)
            result_bare = run_wrk(bare.url, contexts, "bare", *common)
            cpu0 = cpu()
            result_first = run_wrk(f"{stack.web_url}/callbacks/acs", contexts, "first", *common)
            cpu_first = [b - a for a, b in zip(cpu0, cpu(), strict=True)]
            ops = count_ops(str(stack.env["CALLCUE_REDIS_URL"]), [s.sequence_id for s in started])
            cpu0 = cpu()
            result_dup = run_wrk(f"{stack.web_url}/callbacks/acs", contexts, "duplicate", *common)
            cpu_dup = [b - a for a, b in zip(cpu0, cpu(), strict=True)]
        finally:
            bare.stop()
    applied = ops.get("completed", 0)
    out = {
        "bare": result_bare.to_json(),
        "first": result_first.to_json(),
        "duplicate": result_dup.to_json(),
        "first_applied": applied,
        "first_applied_share": round(applied / max(result_first.requests, 1), 3),
        "web_cpu_ms_per_request_first": round(1000 * cpu_first[0] / max(result_first.requests, 1), 3),
        "web_cpu_ms_per_request_duplicate": round(1000 * cpu_dup[0] / max(result_dup.requests, 1), 3),
        "redis_cpu_ms_per_request_first": round(1000 * cpu_first[1] / max(result_first.requests, 1), 3),
        "redis_cpu_ms_per_request_duplicate": round(1000 * cpu_dup[1] / max(result_dup.requests, 1), 3),
        "op_statuses_after_first": ops,
    }
    log(
        f"  run {run + 1}: bare {result_bare.rps:.0f} req/s (p50 {result_bare.p50_ms:.2f} / p99 "
        f"{result_bare.p99_ms:.2f} ms); first delivery {result_first.rps:.0f} req/s (p50 {result_first.p50_ms:.2f}"
        f" / p99 {result_first.p99_ms:.2f} ms, {applied} of {result_first.requests} applied, "
        f"{result_first.errors} errors; CPU per request: web {out['web_cpu_ms_per_request_first']:.3f} ms, Redis "
        f"{out['redis_cpu_ms_per_request_first']:.3f} ms); duplicate {result_dup.rps:.0f} req/s "
        f"(p50 {result_dup.p50_ms:.2f} / p99 "
        f"{result_dup.p99_ms:.2f} ms, {result_dup.errors} errors)"
    )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk pass")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--sequences", type=int, default=8000)
    args = parser.parse_args(argv)
    log(
        f"ingest: {args.runs} runs, wrk {args.threads} threads x {args.connections} connections, "
        f"{args.duration:g} s per pass, {args.sequences} sequences"
    )
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="callcue-bench-ingest-") as tmp:
        for run in range(args.runs):
            runs.append(one_run(args, run, Path(tmp)))

    def series(mode: str, key: str) -> list[float]:
        return [float(r[mode][key]) for r in runs]

    ratios = [r["first"]["rps"] / r["bare"]["rps"] for r in runs]
    dup_ratios = [r["duplicate"]["rps"] / r["bare"]["rps"] for r in runs]
    figures: dict[str, Any] = {
        "ingest_rps": summarize(series("first", "rps"), 0)["median"],
        "bare_rps": summarize(series("bare", "rps"), 0)["median"],
        "ingest_ratio": summarize(ratios, 3)["median"],
        "ingest_p50_ms": summarize(series("first", "p50_ms"))["median"],
        "ingest_p99_ms": summarize(series("first", "p99_ms"))["median"],
        "bare_p50_ms": summarize(series("bare", "p50_ms"))["median"],
        "bare_p99_ms": summarize(series("bare", "p99_ms"))["median"],
        "duplicate_rps": summarize(series("duplicate", "rps"), 0)["median"],
        "duplicate_ratio": summarize(dup_ratios, 3)["median"],
        "duplicate_p50_ms": summarize(series("duplicate", "p50_ms"))["median"],
        "duplicate_p99_ms": summarize(series("duplicate", "p99_ms"))["median"],
        "detail": {
            "ingest_rps": summarize(series("first", "rps"), 0),
            "bare_rps": summarize(series("bare", "rps"), 0),
            "ingest_ratio": summarize(ratios, 3),
            "duplicate_rps": summarize(series("duplicate", "rps"), 0),
            "duplicate_ratio": summarize(dup_ratios, 3),
            "runs": runs,
        },
        "wrk": {"threads": args.threads, "connections": args.connections, "duration_s": args.duration},
        "machine": machine(),
    }
    print("\ncallback ingest (medians of runs, [min-max]):")
    d = figures["detail"]
    print(
        f"  bare Starlette   {figures['bare_rps']} req/s [{d['bare_rps']['min']}-{d['bare_rps']['max']}]  "
        f"p50 {figures['bare_p50_ms']} ms  p99 {figures['bare_p99_ms']} ms"
    )
    print(
        f"  first delivery   {figures['ingest_rps']} req/s [{d['ingest_rps']['min']}-{d['ingest_rps']['max']}]  "
        f"p50 {figures['ingest_p50_ms']} ms  p99 {figures['ingest_p99_ms']} ms  ratio {figures['ingest_ratio']}"
    )
    print(
        f"  duplicate        {figures['duplicate_rps']} req/s  p50 {figures['duplicate_p50_ms']} ms  "
        f"p99 {figures['duplicate_p99_ms']} ms  ratio {figures['duplicate_ratio']}"
    )
    emit("ingest", figures)
    return figures


if __name__ == "__main__":
    main()
