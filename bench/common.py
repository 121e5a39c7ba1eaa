"""What every benchmark shares: prompt files, statistics, starting calls, reading the emulator's timelines.

Everything here talks to real processes over loopback (a DevStack: embedded Redis, the ACS emulator,
``callcue web`` and ``callcue worker``). Every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from service.audio_server import AudioServer, write_tone
from service.devstack import DevStack
from service.processes import NotReady, wait_http

Entry = dict[str, Any]


# -- statistics ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Iterable[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def spread(values: Iterable[float]) -> list[float]:
    """[min, max] of the finite values: how far apart the runs were."""
    finite = [v for v in values if not math.isnan(v)]
    return [min(finite), max(finite)] if finite else [math.nan, math.nan]


def rounded(value: float, digits: int = 2) -> float | None:
    """JSON has no NaN: a missing figure is null."""
    return None if math.isnan(value) else round(value, digits)


def summarize(runs: Sequence[float], digits: int = 2) -> dict[str, Any]:
    """Median and spread of several runs, as printed and as put into the JSON line."""
    return {
        "median": rounded(median(runs), digits),
        "min": rounded(spread(runs)[0], digits),
        "max": rounded(spread(runs)[1], digits),
        "runs": [rounded(r, digits) for r in runs],
    }


def emit(name: str, figures: dict[str, Any]) -> None:
    """The last line of every benchmark: one JSON object holding all of its figures."""
    print(json.dumps({"bench": name, **figures}, separators=(",", ":"), allow_nan=False), flush=True)


def machine() -> dict[str, Any]:
    import redis
    import rq
    import starlette
    import uvicorn

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "starlette": starlette.__version__,
        "uvicorn": uvicorn.__version__,
        "redis_py": redis.__version__,
        "rq": rq.__version__,
        "httpx": httpx.__version__,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "code": code_version(),
    }


def code_version() -> str:
    """The git commit measured, with "+dirty" when service/, workers/ or emulator/ have local changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "service", "workers", "emulator"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{'+dirty' if dirty else ''}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- prompts ------------------------------------------------------------------------------------


@dataclass
class PromptSet:
    """``count`` WAV prompts of ``seconds`` each, served over HTTP; each has its ACS cache id."""

    directory: Path
    seconds: float
    count: int = 4
    server: AudioServer | None = None
    names: list[str] = field(default_factory=list)

    def start(self) -> PromptSet:
        self.directory.mkdir(parents=True, exist_ok=True)
        for i in range(self.count):
            name = f"prompt-{i}-{self.seconds:g}s.wav"
            path = self.directory / name
            if not path.exists():
                write_tone(path, self.seconds, freq=440.0 + 110 * i)
            self.names.append(name)
        self.server = AudioServer(self.directory).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def plan(self, prompts: int | None = None) -> dict[str, Any]:
        """A sequence of ``prompts`` plays (default: every file once), each with its cache id, as a
        real deployment would set so that ACS downloads a prompt once an hour, not once per play."""
        assert self.server is not None
        n = prompts or self.count
        return {
            "prompts": [
                {
                    "audioFileUri": self.server.url(self.names[i % self.count]),
                    "audioFileId": f"bench-{self.names[i % self.count]}",
                }
                for i in range(n)
            ]
        }


# -- driving calls ------------------------------------------------------------------------------


@dataclass
class Started:
    call_id: str
    sequence_id: str
    at: float  # when the API answered 202


async def _start_calls(
    stack: DevStack, call_ids: Sequence[str], plan: dict[str, Any], spread_s: float, concurrency: int, timeout: float
) -> list[Started]:
    """POST one sequence per call; call i is due at ``i * spread_s / n`` (a steady arrival of calls)."""
    n = len(call_ids)
    started: list[Started] = []
    failures: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    async with httpx.AsyncClient(base_url=stack.web_url, headers=headers, limits=limits, timeout=10.0) as client:
        # Open every connection before the first call is due: otherwise the first calls wait for
        # the load generator's own connection set-up and start in a bunch.
        await asyncio.gather(*(client.get("/healthz") for _ in range(concurrency)))
        t0 = time.monotonic()
        deadline = t0 + timeout

        async def worker() -> None:
            while not queue.empty() and time.monotonic() < deadline:
                i = queue.get_nowait()
                due = t0 + i * spread_s / max(n, 1)
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                answer = await client.post(f"/v1/calls/{call_ids[i]}/sequences", json=plan)
                if answer.status_code != 202:
                    failures.append(f"{call_ids[i]}: {answer.status_code} {answer.text[:200]}")
                    continue
                started.append(Started(call_ids[i], answer.json()["sequenceId"], time.time()))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    if failures:
        raise RuntimeError(f"{len(failures)} sequences were refused, e.g. {failures[0]}")
    if len(started) != n:
        raise RuntimeError(f"only {len(started)} of {n} sequences started within {timeout} s")
    return started


def start_calls(
    stack: DevStack,
    call_ids: Sequence[str],
    plan: dict[str, Any],
    spread_s: float,
    concurrency: int = 8,
    timeout: float = 120.0,
) -> list[Started]:
    return asyncio.run(_start_calls(stack, call_ids, plan, spread_s, concurrency, timeout))


def warm_up(stack: DevStack, prompts: PromptSet, speed: float, tag: str) -> None:
    """Two unmeasured calls per prompt file, played to the end before a measured run starts.

    A fresh stack's first plays pay one-time costs (the job module's import, the first
    connections, each file's first download at the emulator, the WAV header reads), and calls that
    start together in that moment stay bunched for the whole run: what is measured is the steady
    state, so those costs are paid here.
    """
    assert stack.emulator_url is not None
    ids = [f"{tag}-warm-{i}" for i in range(2 * prompts.count)]
    files = prompts.plan()["prompts"]
    started = time.time()
    for i, call_id in enumerate(ids):
        start_calls(stack, [call_id], {"prompts": [files[i % len(files)]]}, spread_s=0.0, concurrency=1)
    play_s = prompts.seconds / speed
    timelines = wait_for_calls(stack.emulator_url, ids, 1, not_before=started + play_s, timeout=10 + play_s)
    if any(completed_plays(t) < 1 for t in timelines.values()):
        raise RuntimeError(f"warm-up calls of {tag} did not complete")


def read_timelines(emulator_url: str, call_ids: Sequence[str], threads: int = 4) -> dict[str, list[Entry]]:
    """Every call's emulator timeline (sorted by time by the emulator)."""

    def read(chunk: Sequence[str]) -> dict[str, list[Entry]]:
        out: dict[str, list[Entry]] = {}
        with httpx.Client(base_url=emulator_url, timeout=30.0) as client:
            for call_id in chunk:
                answer = client.get(f"/emulator/calls/{call_id}/timeline")
                out[call_id] = answer.json()["entries"] if answer.status_code == 200 else []
        return out

    chunks = [call_ids[i::threads] for i in range(threads)]
    result: dict[str, list[Entry]] = {}
    with ThreadPoolExecutor(threads) as pool:
        for part in pool.map(read, chunks):
            result.update(part)
    return result


def is_completion(entry: Entry) -> bool:
    """A play's successful end: 200/0, and not GA's PlayStarted, which carries 200/0 too."""
    return (
        entry.get("code") == 200
        and entry.get("subcode") == 0
        and not str(entry.get("eventType", "")).endswith("PlayStarted")
    )


def completed_plays(entries: list[Entry]) -> int:
    return sum(
        1
        for e in entries
        if e["kind"] == "callback" and is_completion(e) and 200 <= int(e.get("httpStatus") or 0) < 300
    )


def wait_for_calls(
    emulator_url: str, call_ids: Sequence[str], plays: int, not_before: float, timeout: float
) -> dict[str, list[Entry]]:
    """Wait (bounded) until every call has ``plays`` delivered completions; return all timelines.

    Nothing is read before ``not_before`` (wall clock), so that the reading does not load the run.
    """
    pause = not_before - time.time()
    if pause > 0:
        time.sleep(pause)
    deadline = time.monotonic() + timeout
    timelines = read_timelines(emulator_url, call_ids)
    while True:
        missing = [c for c, t in timelines.items() if completed_plays(t) < plays]
        if not missing or time.monotonic() > deadline:
            return timelines
        time.sleep(0.5)
        timelines.update(read_timelines(emulator_url, missing))


# -- reading timelines --------------------------------------------------------------------------


@dataclass
class GapReport:
    gaps_ms: list[float]  # completion callback sent -> next play request received
    silence_ms: list[float]  # playEnded -> next playStarted: what a caller hears, emulator queueing included
    calls: int
    complete_calls: int
    plays: int
    failed_callbacks: int  # callback attempts answered non-2xx (or not at all)
    peak_concurrency: int
    first_play: float
    last_callback: float
    # CPU per play of each part of the stack (bench.gap's CPU_PARTS) while the measured calls ran;
    # filled in by the benchmark that owns the stack.
    cpu_ms_per_play: dict[str, float] = field(default_factory=dict)


def gap_report(
    timelines: dict[str, list[Entry]], plays_per_call: int, observed_until: float | None = None
) -> GapReport:
    """Gaps and silences of every call. A call still waiting for its next play when the observation
    ended (``observed_until``, wall clock) counts a gap of at least that long: a lower bound, not a loss."""
    gaps: list[float] = []
    silences: list[float] = []
    intervals: list[tuple[float, float]] = []
    complete = plays = failed = 0
    first_play = math.inf
    last_callback = 0.0
    for entries in timelines.values():
        pending_callback: float | None = None
        pending_end: float | None = None
        call_start: float | None = None
        call_end: float | None = None
        for e in entries:
            kind, at = e["kind"], float(e["at"])
            if kind == "playRequest":
                plays += 1
                call_start = at if call_start is None else call_start
                first_play = min(first_play, at)
                if pending_callback is not None:
                    gaps.append((at - pending_callback) * 1000)
                    pending_callback = None
            elif kind == "callback":
                ok = 200 <= int(e.get("httpStatus") or 0) < 300
                failed += 0 if ok else 1
                completion = is_completion(e)
                if completion and pending_callback is None and e.get("attempt") == 1:
                    pending_callback = at  # the first attempt: a retry does not reset the clock
                call_end = at
                last_callback = max(last_callback, at)
            elif kind == "playEnded" and e.get("reason") == "completed":
                pending_end = at
            elif kind == "playStarted" and pending_end is not None:
                silences.append((at - pending_end) * 1000)
                pending_end = None
        if completed_plays(entries) >= plays_per_call:
            complete += 1
        elif pending_callback is not None and observed_until is not None:
            gaps.append((observed_until - pending_callback) * 1000)
        if call_start is not None and call_end is not None:
            intervals.append((call_start, call_end))
    return GapReport(
        gaps, silences, len(timelines), complete, plays, failed, peak_overlap(intervals), first_play, last_callback
    )


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    peak = current = 0
    for _, delta in points:
        current += delta
        peak = max(peak, current)
    return peak


def play_request_times(timelines: dict[str, list[Entry]]) -> list[float]:
    return sorted(float(e["at"]) for t in timelines.values() for e in t if e["kind"] == "playRequest")


def check_sequences(stack: DevStack, started: Sequence[Started], threads: int = 4) -> dict[str, int]:
    """Status of every sequence, from callcue's API (after the run: it does not load the measurement)."""

    def read(chunk: Sequence[Started]) -> dict[str, int]:
        counts: dict[str, int] = {}
        with stack.client(timeout=30.0) as client:
            for s in chunk:
                status = str(client.get(f"/v1/sequences/{s.sequence_id}").json().get("status"))
                counts[status] = counts.get(status, 0) + 1
        return counts

    total: dict[str, int] = {}
    with ThreadPoolExecutor(threads) as pool:
        for part in pool.map(read, [started[i::threads] for i in range(threads)]):
            for k, v in part.items():
                total[k] = total.get(k, 0) + v
    return total


# -- processes ----------------------------------------------------------------------------------


ROOT = Path(__file__).resolve().parent.parent


def spawn_direct_workers(
    stack: DevStack, count: int, threads: int, log_dir: Path, *extra: str
) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` bench.direct_worker processes (the no-RQ experiment) with the stack's environment."""
    processes: list[subprocess.Popen[bytes]] = []
    for i in range(count):
        with open(log_dir / f"direct{i + 1}.log", "ab") as out:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.direct_worker", "--threads", str(threads), *extra],
                    env=stack.env,
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    return processes


def spawn_gcwatch(stack: DevStack, process: str, mode: str, log_dir: Path, index: int = 0) -> subprocess.Popen[bytes]:
    """``callcue web|worker`` under bench.gcwatch (the GC experiment), with the stack's environment."""
    args = [sys.executable, "-m", "bench.gcwatch", *(["--freeze"] if mode == "freeze" else []), process]
    with open(log_dir / f"gcwatch-{process}{index}.log", "ab") as out:
        return subprocess.Popen(args, env=stack.env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    try:
        wait_http(url, process, timeout)
    except NotReady as exc:
        raise RuntimeError(str(exc)) from None


_GC_LINE = re.compile(r"gc(?:watch)?: generation \d+ took ([\d.]+) ms")


def gc_pauses_in(log_dir: Path) -> list[float]:
    """Collections longer than 5 ms that bench.gcwatch and bench.direct_worker logged, in ms."""
    pauses: list[float] = []
    for path in log_dir.glob("*.log"):
        pauses += [float(m.group(1)) for m in _GC_LINE.finditer(path.read_text(errors="replace"))]
    return pauses


def stop_processes(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM each of our own processes, then SIGKILL any that did not end in time."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def rss_kib(pid: int) -> int:
    """VmRSS of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def stack_pids(stack: DevStack) -> dict[str, int]:
    pids = {name: p.pid for name, p in stack.processes.items() if p.poll() is None}
    if stack.redis is not None and stack.redis.process is not None:
        pids["redis"] = stack.redis.process.pid
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def profile(pid: int, seconds: float, out: Path, rate: int = 250) -> subprocess.Popen[bytes] | None:
    """py-spy record of a running process for ``seconds`` (bounded), as a speedscope JSON; None without py-spy."""
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        return None
    args = [
        str(exe),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
    ]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _frame_name(frame: str) -> str:
    found = _FRAME.match(frame)
    return f"{found.group('func')} ({found.group('file')})" if found else frame


@dataclass
class Profile:
    """A py-spy ``raw`` profile: for each function, the share of samples with it on the stack
    (inclusive) and as the innermost frame (self)."""

    samples: int
    inclusive: dict[str, float]
    self_time: dict[str, float]

    def top(self, which: str = "inclusive", limit: int = 20, only: Sequence[str] = ()) -> list[tuple[str, float]]:
        table = self.inclusive if which == "inclusive" else self.self_time
        rows = [(k, v) for k, v in table.items() if not only or any(o in k for o in only)]
        return sorted(rows, key=lambda kv: -kv[1])[:limit]


def read_profile(raw: Path) -> Profile:
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    if raw.exists():
        for line in raw.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            total += count
            frames = [_frame_name(f) for f in stack.split(";")]
            for name in set(frames):
                inclusive[name] = inclusive.get(name, 0) + count
            if frames:
                own[frames[-1]] = own.get(frames[-1], 0) + count
    scale = 100.0 / total if total else 0.0
    return Profile(total, {k: v * scale for k, v in inclusive.items()}, {k: v * scale for k, v in own.items()})
