"""Footprint: Redis bytes per active sequence and per finished operation, and the RSS of web and worker.

Two phases, each on a fresh DevStack (embedded Redis, emulator, ``callcue web``, one ``callcue worker``):

- active: ``--calls`` sequences of 4 prompts whose first prompt lasts a minute are started and left
  playing; once every first play was accepted, every key in Redis is measured with ``MEMORY USAGE
  <key> SAMPLES 0`` and grouped by kind. Per active sequence = all of callcue's and RQ's keys / calls.
- finished: ``--calls`` sequences of 4 short prompts are played to their end. Per finished operation =
  the keys a finished call leaves behind for ``CALLCUE_RETENTION_SECONDS`` (``cc:seq:*``, ``cc:call:*``,
  ``cc:tl:*``, ``cc:ev:*``, ``cc:seen:*`` and its share of ``cc:calls``) / operations. RQ's job hashes
  and result entries also remain, for ``result_ttl`` (60 s): reported apart, as they do not accumulate.

RSS is VmRSS from /proc/<pid>/status of DevStack's processes, at the end of each phase.

    python -m bench.footprint [--calls 500]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.common import PromptSet, emit, log, machine, rss_kib, stack_pids, start_calls, wait_for_calls
from service.devstack import DevStack

# Key kinds, by pattern; the first match wins.
KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("cc:seq", re.compile(r"^cc:seq:")),
    ("cc:call", re.compile(r"^cc:call:")),
    ("cc:tl", re.compile(r"^cc:tl:")),
    ("cc:ev", re.compile(r"^cc:ev:")),
    ("cc:seen", re.compile(r"^cc:seen:")),
    ("cc:calls", re.compile(r"^cc:calls$")),
    ("cc:outbox", re.compile(r"^cc:outbox$")),
    ("cc:watch", re.compile(r"^cc:watch$")),
    ("cc:wav", re.compile(r"^cc:wav:")),
    ("cc:other", re.compile(r"^cc:")),
    ("rq:job", re.compile(r"^rq:job:")),
    ("rq:results", re.compile(r"^rq:results:")),
    ("rq:execution", re.compile(r"^rq:execution")),
    ("rq:registry", re.compile(r"^rq:(finished|started|failed|deferred|scheduled|canceled|wip):")),
    ("rq:other", re.compile(r"^rq:")),
]
PER_CALL = ("cc:seq", "cc:call", "cc:tl", "cc:ev", "cc:seen", "cc:calls")


def measure_keys(redis_url: str) -> dict[str, dict[str, int]]:
    """Bytes and key counts by kind (MEMORY USAGE with every element sampled)."""
    client = redis.Redis.from_url(redis_url)
    out: dict[str, dict[str, int]] = {}
    try:
        keys = [k.decode() for k in client.scan_iter(count=1000)]
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            pipe = client.pipeline(transaction=False)
            for key in chunk:
                pipe.memory_usage(key, samples=0)
            for key, size in zip(chunk, pipe.execute(), strict=True):
                kind = next((name for name, pattern in KINDS if pattern.match(key)), "other")
                entry = out.setdefault(kind, {"bytes": 0, "keys": 0})
                entry["bytes"] += int(size or 0)
                entry["keys"] += 1
    finally:
        client.close()
    return out


def used_memory(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def anatomy(redis_url: str, call_ids: list[str]) -> dict[str, Any]:
    """What the bytes of finished calls are made of: JSON bytes per timeline entry kind and per event
    record part, averaged over the sampled calls' operations (payload only, without Redis overhead)."""
    client = redis.Redis.from_url(redis_url)
    by_kind: dict[str, int] = {}
    event_parts = {"raw CloudEvent": 0, "outcome and decision": 0}
    seq_doc = call_doc = dedupe = 0
    ops = 0
    try:
        for call_id in call_ids:
            for raw in client.lrange(f"cc:tl:{call_id}", 0, -1):
                entry = json.loads(raw)
                kind = entry.get("kind") or entry["k"]  # service.timeline stores "k"
                by_kind[kind] = by_kind.get(kind, 0) + len(raw)
            call_doc += len(client.hget(f"cc:call:{call_id}", "d") or b"")
            dedupe += sum(len(m) for m in client.smembers(f"cc:seen:{call_id}"))
            call = json.loads(client.hget(f"cc:call:{call_id}", "d") or b"{}")
            for sid in call.get("seqs", call.get("sequences", [])):
                doc = client.hget(f"cc:seq:{sid}", "d") or b"{}"
                seq_doc += len(doc)
                ops += len(json.loads(doc).get("ops", []))
                for record in client.lrange(f"cc:ev:{sid}", 0, -1):
                    parsed = json.loads(record)
                    raw_event = len(json.dumps(parsed.get("event", {}), separators=(",", ":")))
                    event_parts["raw CloudEvent"] += raw_event
                    event_parts["outcome and decision"] += len(record) - raw_event
    finally:
        client.close()
    per_op = max(ops, 1)
    return {
        "operations_sampled": ops,
        "timeline_bytes_per_op_by_kind": {k: round(v / per_op) for k, v in sorted(by_kind.items())},
        "event_record_bytes_per_op": {k: round(v / per_op) for k, v in event_parts.items()},
        "sequence_doc_bytes_per_op": round(seq_doc / per_op),
        "call_doc_bytes_per_op": round(call_doc / per_op),
        "dedupe_member_bytes_per_op": round(dedupe / per_op),
    }


def rss(stack: DevStack) -> dict[str, float]:
    return {name: round(rss_kib(pid) / 1024, 1) for name, pid in stack_pids(stack).items()}


def active_phase(calls: int, prompts: PromptSet, log_dir: Path) -> dict[str, Any]:
    with DevStack(workers=1, log_dir=log_dir) as stack:
        assert stack.emulator_url is not None
        url = stack.env["CALLCUE_REDIS_URL"]
        idle_rss = rss(stack)
        base = used_memory(url)
        call_ids = [f"fp-active-{i:05d}" for i in range(calls)]
        start_calls(stack, call_ids, prompts.plan(4), spread_s=0.0)
        deadline = time.monotonic() + 60 + calls * 0.05
        while time.monotonic() < deadline:
            seen = httpx.get(f"{stack.emulator_url}/emulator/calls", timeout=10).json()["calls"]
            if sum(1 for c in seen if c["playing"]) >= calls:
                break
            time.sleep(0.5)
        time.sleep(1.0)  # the acceptance writes follow the play requests
        kinds = measure_keys(url)
        total = sum(v["bytes"] for v in kinds.values())
        return {
            "calls": calls,
            "keys": kinds,
            "bytes_per_active_sequence": round(total / calls),
            "used_memory_delta_per_active_sequence": round((used_memory(url) - base) / calls),
            "rss_mib": rss(stack),
            "idle_rss_mib": idle_rss,
        }


def finished_phase(calls: int, prompts: PromptSet, speed: float, log_dir: Path) -> dict[str, Any]:
    with DevStack(workers=1, speed=speed, log_dir=log_dir) as stack:
        assert stack.emulator_url is not None
        url = stack.env["CALLCUE_REDIS_URL"]
        call_ids = [f"fp-done-{i:05d}" for i in range(calls)]
        play_s = prompts.seconds / speed
        t0 = time.time()
        start_calls(stack, call_ids, prompts.plan(4), spread_s=play_s)
        timelines = wait_for_calls(stack.emulator_url, call_ids, 4, not_before=time.time() + 4 * play_s, timeout=120)
        ops = sum(sum(1 for e in t if e["kind"] == "playRequest") for t in timelines.values())
        time.sleep(1.0)  # the last outcomes are written as the callbacks are answered
        kinds = measure_keys(url)
        parts = anatomy(url, call_ids[:50])
        per_call = sum(kinds.get(k, {"bytes": 0})["bytes"] for k in PER_CALL)
        rq_bytes = sum(v["bytes"] for k, v in kinds.items() if k.startswith("rq:"))
        return {
            "calls": calls,
            "operations": ops,
            "seconds": round(time.time() - t0, 1),
            "keys": kinds,
            "bytes_per_finished_operation": round(per_call / max(ops, 1)),
            "bytes_per_finished_sequence": round(per_call / calls),
            "rq_bytes_per_operation_within_result_ttl": round(rq_bytes / max(ops, 1)),
            "rss_mib": rss(stack),
            "anatomy": parts,
        }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.footprint", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args(argv)
    log(f"footprint: {args.calls} calls per phase")
    with tempfile.TemporaryDirectory(prefix="callcue-bench-footprint-") as tmp:
        long = PromptSet(Path(tmp) / "long", 60.0).start()
        short = PromptSet(Path(tmp) / "short", 1.0).start()
        try:
            active = active_phase(args.calls, long, Path(tmp) / "active")
            finished = finished_phase(args.calls, short, 2.0, Path(tmp) / "finished")
        finally:
            long.stop()
            short.stop()
    workers = [v for k, v in finished["rss_mib"].items() if k.startswith("worker")]
    figures: dict[str, Any] = {
        "redis_bytes_per_active_sequence": active["bytes_per_active_sequence"],
        "redis_bytes_per_finished_operation": finished["bytes_per_finished_operation"],
        "redis_bytes_per_finished_sequence": finished["bytes_per_finished_sequence"],
        "rq_bytes_per_operation_within_result_ttl": finished["rq_bytes_per_operation_within_result_ttl"],
        "web_rss_mib": active["rss_mib"].get("web"),
        "worker_rss_mib": max(workers) if workers else None,
        "detail": {"active": active, "finished": finished},
        "machine": machine(),
    }
    print("\nRedis footprint:")
    print(f"  per active sequence     {figures['redis_bytes_per_active_sequence']} B (every key, RQ's included)")
    print(
        f"  per finished operation  {figures['redis_bytes_per_finished_operation']} B "
        f"(cc:seq, cc:call, cc:tl, cc:ev, cc:seen, cc:calls; kept for the retention period)"
    )
    print(
        f"  RQ leftovers            {figures['rq_bytes_per_operation_within_result_ttl']} B per operation "
        "for result_ttl (60 s)"
    )
    print(f"  anatomy of a finished operation (JSON payload bytes): {finished['anatomy']}")
    for phase in ("active", "finished"):
        kinds = figures["detail"][phase]["keys"]
        print(f"  {phase:>8} keys: " + ", ".join(f"{k} {v['keys']} keys {v['bytes']} B" for k, v in kinds.items()))
    print(
        f"RSS (MiB): with {args.calls} active calls {active['rss_mib']}; idle {active['idle_rss_mib']}; "
        f"after {finished['operations']} operations {finished['rss_mib']}"
    )
    emit("footprint", figures)
    return figures


if __name__ == "__main__":
    main()
