"""Profiles under load, for docs/PERFORMANCE.md: where the web and the worker spend their time, and
where an inter-prompt gap goes. Not a figure of merit: py-spy itself takes CPU on a 2-core machine.

1. web: ``callcue web`` under the wrk load of bench.ingest (first deliveries), py-spy for 8 s;
2. worker: one ``callcue worker`` draining queued plays as in bench.outbound, py-spy for 6 s;
3. gap breakdown: at 1 and 100 calls (bench.gap's prompts), each gap split with callcue's own
   timeline (``GET /v1/calls/{id}``) into: callback sent -> the web has loaded the sequence and decided
   (``outcome``); -> the worker has loaded it again and writes its ledger (``playRequested``: web commit,
   pump wake-up, claim, RQ enqueue, RQ dequeue and bookkeeping, job start, loads); -> the play request
   arrives at the emulator (ledger commit, signing, HTTP).

Writes SUMMARY.md under ``--out`` (default bench/profiles); ``--keep-raw`` keeps py-spy's raw stacks there.

    python -m bench.profile [--out bench/profiles]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import ingest, outbound
from bench.common import (
    Entry,
    Profile,
    PromptSet,
    emit,
    log,
    median,
    percentile,
    profile,
    read_profile,
    start_calls,
    wait_for_calls,
    warm_up,
)
from service.devstack import DevStack

PROJECT = ("service/", "workers/")
LIBRARIES = ("rq/", "redis/", "httpx/", "httpcore/", "json/", "starlette/", "cloudevents/", "dateutil/", "logging/")


def summary(title: str, prof: Profile) -> str:
    lines = [f"## {title}", "", f"{prof.samples} samples (py-spy, 250 Hz, idle excluded)", ""]
    lines += ["### callcue functions: share of samples with the function on the stack", ""]
    lines += [f"- {share:5.1f} %  {name}" for name, share in prof.top("inclusive", 25, PROJECT)]
    lines += ["", "### libraries: share of samples with the function on the stack", ""]
    lines += [f"- {share:5.1f} %  {name}" for name, share in prof.top("inclusive", 30, LIBRARIES)]
    lines += ["", "### innermost frames (self time)", ""]
    lines += [f"- {share:5.1f} %  {name}" for name, share in prof.top("self", 20)]
    return "\n".join(lines) + "\n"


def profile_web(out: Path, tmp: Path, sequences: int, duration: float) -> Profile:
    log_dir = tmp / "web"
    log_dir.mkdir()
    with DevStack(workers=0, log_dir=log_dir) as stack:
        secret = stack.env["CALLCUE_CALLBACK_SECRETS"].split(",")[0]
        started = start_calls(stack, [str(uuid.uuid4()) for _ in range(sequences)], ingest.plan(), 0.0, timeout=300)
        contexts = log_dir / "contexts.txt"
        contexts.write_text("".join(f"{s.call_id} {s.sequence_id}\n" for s in started))
        spy = profile(stack.processes["web"].pid, duration - 2, out / "web-ingest.raw.txt")
        result = ingest.run_wrk(f"{stack.web_url}/callbacks/acs", contexts, "first", secret, 2, 50, duration)
        if spy is not None:
            spy.wait(timeout=60)
    log(f"  web under wrk (first deliveries): {result.rps:.0f} req/s while profiled")
    return read_profile(out / "web-ingest.raw.txt")


def profile_worker(out: Path, tmp: Path, plays: int) -> Profile:
    spies: list[subprocess.Popen[bytes]] = []

    def attach(pid: int) -> None:
        spy = profile(pid, 6, out / "worker-drain.raw.txt")
        if spy is not None:
            spies.append(spy)

    with tempfile.TemporaryDirectory(dir=tmp) as audio:
        prompts = PromptSet(Path(audio), 60.0, count=1).start()
        try:
            with DevStack(workers=0, api_version=outbound.sdk_version(), log_dir=tmp / "worker") as stack:
                rate, cpu = outbound.callcue_rate(stack, prompts, plays, "prof", attach)
                for spy in spies:
                    spy.wait(timeout=60)
        finally:
            prompts.stop()
    log(f"  one worker draining {plays} plays: {rate:.0f} plays/s while profiled, {cpu:.2f} ms CPU per play")
    return read_profile(out / "worker-drain.raw.txt")


def _callback_body(call_id: str, sid: str, op: int, n: int) -> bytes:
    event = {
        "id": f"{n:08x}-0000-4000-8000-{n:012d}",
        "source": f"calling/callConnections/{call_id}",
        "type": "Microsoft.Communication.PlayAudioResult",
        "specversion": "1.0",
        "time": "2026-11-24T10:00:00.000Z",
        "datacontenttype": "application/json",
        "subject": f"calling/callConnections/{call_id}",
        "data": {
            "resultInfo": {"code": 200, "subcode": 0, "message": "Action completed successfully."},
            "operationContext": f"{sid}.{op}",
            "status": "completed",
        },
    }
    return json.dumps([event], separators=(",", ":")).encode()


class _Exchange:
    """The ASGI receive/send of one request."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sent: list[dict[str, Any]] = []
        self.delivered = False

    async def receive(self) -> dict[str, Any]:
        if self.delivered:
            return {"type": "http.disconnect"}
        self.delivered = True
        return {"type": "http.request", "body": self.body, "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


async def _drive(app: Any, secret: str, started: list[Any], first: int, count: int) -> list[float]:
    """POST ``count`` first-delivery callbacks straight into the ASGI app, one after the other."""
    took: list[float] = []
    k = len(started)
    for n in range(first, first + count):
        s = started[n % k]
        body = _callback_body(s.call_id, s.sequence_id, n // k, n)
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/callbacks/acs", "raw_path": b"/callbacks/acs", "query_string": f"secret={secret}".encode(),
            "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "state": {},
            "headers": [(b"host", b"callcue"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
        }  # fmt: skip
        exchange = _Exchange(body)
        t0 = time.perf_counter()
        await app(scope, exchange.receive, exchange.send)
        took.append((time.perf_counter() - t0) * 1000)
        status = next((m["status"] for m in exchange.sent if m["type"] == "http.response.start"), 0)
        if not 200 <= status < 300:
            raise RuntimeError(f"callback answered {status}: {exchange.sent}")
    return took


def web_cpu_split(tmp: Path, sequences: int, count: int) -> dict[str, Any]:
    """Time per callback in the web's code, in-process and sequential, with cProfile's split by function."""
    import asyncio
    import cProfile
    import pstats

    from service.settings import Settings
    from service.web.app import create_app

    with DevStack(workers=0, log_dir=tmp / "split") as stack:
        secret = stack.env["CALLCUE_CALLBACK_SECRETS"].split(",")[0]
        started = start_calls(stack, [str(uuid.uuid4()) for _ in range(sequences)], ingest.plan(), 0.0, timeout=300)
        app = create_app(Settings.from_env(stack.env))

        async def run(profiler: cProfile.Profile | None) -> tuple[list[float], list[float]]:
            async with app.router.lifespan_context(app):
                plain = await _drive(app, secret, started, 0, count)  # operations 0.. of each sequence
                if profiler is not None:
                    profiler.enable()
                profiled = await _drive(app, secret, started, count, count)
                if profiler is not None:
                    profiler.disable()
                return plain, profiled

        profiler = cProfile.Profile()
        plain, _ = asyncio.run(run(profiler))
    stats = pstats.Stats(profiler)
    rows: dict[str, float] = {}
    total_ms = 0.0
    for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        name = f"{func} ({short})"
        # The app's entry: Starlette's, or since round 7 callcue's (which answers callbacks itself).
        if func == "__call__" and short.endswith(("starlette/applications.py", "service/web/app.py")):
            total_ms = max(total_ms, ct * 1000 / count)
        rows[name] = max(rows.get(name, 0.0), ct * 1000 / count)
    wanted = ("service/", "json/", "cloudevents/", "dateutil/", "redis/commands/core.py", "redis/asyncio/client.py")
    top = sorted(((n, v) for n, v in rows.items() if any(w in n for w in wanted)), key=lambda kv: -kv[1])[:25]
    return {
        "callbacks": count,
        "wall_ms_per_callback_unprofiled": {
            "p50": round(percentile(plain, 50), 3),
            "p99": round(percentile(plain, 99), 3),
        },
        "profiled_ms_per_callback_in_app": round(total_ms, 3),
        "cumulative_ms_per_callback": [[n, round(v, 3)] for n, v in top],
    }


def breakdown(emulator: list[Entry], callcue: list[Entry]) -> list[tuple[float, float, float]]:
    """Per gap: (callback sent -> web decided, -> worker ledger, -> play request at the emulator), in ms."""
    out: list[tuple[float, float, float]] = []
    callbacks = [e for e in emulator if e["kind"] == "callback" and e.get("attempt") == 1 and e.get("subcode") == 0]
    requests = {e.get("operationContext"): float(e["at"]) for e in emulator if e["kind"] == "playRequest"}
    decided = {e.get("operationContext"): float(e["at"]) for e in callcue if e["kind"] == "outcome"}
    ledger = {e.get("operationContext"): float(e["at"]) for e in callcue if e["kind"] == "playRequested"}
    for cb in callbacks:
        ctx = str(cb.get("operationContext"))
        sid, _, index = ctx.rpartition(".")
        nxt = f"{sid}.{int(index) + 1}"
        if ctx in decided and nxt in ledger and nxt in requests:
            sent = float(cb["at"])
            out.append(
                (
                    (decided[ctx] - sent) * 1000,
                    (ledger[nxt] - decided[ctx]) * 1000,
                    (requests[nxt] - ledger[nxt]) * 1000,
                )
            )
    return out


def gap_breakdown(tmp: Path, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=tmp) as audio:
        prompts = PromptSet(Path(audio), 5.0).start()
        try:
            with DevStack(workers=1, speed=2.0, log_dir=tmp / f"gap{calls}") as stack:
                assert stack.emulator_url is not None
                ids = [f"bd{calls}-{i:04d}" for i in range(calls)]
                warm_up(stack, prompts, 2.0, f"bd{calls}")  # as bench.gap does
                t0 = time.time()
                start_calls(stack, ids, prompts.plan(4), spread_s=2.5 if calls > 1 else 0.0)
                timelines = wait_for_calls(stack.emulator_url, ids, 4, not_before=time.time() + 10.5, timeout=60)
                parts: list[tuple[float, float, float]] = []
                with stack.client(timeout=30) as api:
                    for call_id in ids:
                        ours = api.get(f"/v1/calls/{call_id}").json()["timeline"]
                        parts += breakdown(timelines[call_id], ours)
        finally:
            prompts.stop()
    names = ("callback_to_web_decided", "web_decided_to_worker_ledger", "worker_ledger_to_play_request")
    result: dict[str, Any] = {"calls": calls, "gaps": len(parts), "seconds": round(time.time() - t0, 1)}
    for i, name in enumerate(names):
        values = [p[i] for p in parts]
        result[name] = {"p50_ms": round(percentile(values, 50), 2), "p99_ms": round(percentile(values, 99), 2)}
    total = [sum(p) for p in parts]
    result["total"] = {
        "p50_ms": round(percentile(total, 50), 2),
        "p99_ms": round(percentile(total, 99), 2),
        "median_check_ms": round(median(total), 2),
    }
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("profiles"))
    parser.add_argument("--sequences", type=int, default=6000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--plays", type=int, default=1000)
    parser.add_argument("--keep-raw", action="store_true", help="keep py-spy's raw stacks beside the summary")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not (Path(__import__("sys").executable).with_name("py-spy")).exists():
        raise SystemExit("bench.profile needs py-spy in the venv: pip install py-spy")
    with tempfile.TemporaryDirectory(prefix="callcue-bench-profile-") as tmp_name:
        tmp = Path(tmp_name)
        raw = args.out if args.keep_raw else tmp
        web = profile_web(raw, tmp, args.sequences, args.duration)
        worker = profile_worker(raw, tmp, args.plays)
        gaps = {str(n): gap_breakdown(tmp, n) for n in (1, 100)}
        split = web_cpu_split(tmp, 2000, 3000)
    text = "# Profiles (python -m bench.profile)\n\n"
    text += summary("web: POST /callbacks/acs under wrk, first deliveries", web) + "\n"
    text += summary("worker: one process draining queued plays", worker) + "\n"
    text += "## where an inter-prompt gap goes (ms; bench.gap prompts, 1 worker)\n\n```\n"
    text += json.dumps(gaps, indent=2) + "\n```\n\n"
    text += "## web: one callback at a time, in-process (cProfile; the cumulative ms are inflated by it)\n\n"
    text += f"unprofiled wall time per callback: {split['wall_ms_per_callback_unprofiled']} ms; "
    text += f"profiled, whole app: {split['profiled_ms_per_callback_in_app']} ms\n\n"
    text += "\n".join(f"- {ms:7.3f} ms  {name}" for name, ms in split["cumulative_ms_per_callback"]) + "\n"
    (args.out / "SUMMARY.md").write_text(text)
    print(text)
    figures: dict[str, Any] = {
        "gap_breakdown": gaps,
        "web_split": split,
        "web_top": [[n, round(v, 1)] for n, v in web.top("inclusive", 12, PROJECT)],
        "worker_top": [[n, round(v, 1)] for n, v in worker.top("inclusive", 12, PROJECT + ("rq/",))],
        "summary": str(args.out / "SUMMARY.md"),
    }
    emit("profile", figures)
    return figures


if __name__ == "__main__":
    main()
