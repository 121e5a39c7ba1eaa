"""What one keep-alive POST costs the sending process: httpx.Client against http.client (callcue's
ACS transport, service.acs.transport.KeepAlive), to the bare endpoint, in the same run.

The figure behind callcue's choice of HTTP client for requests to ACS: CPU milliseconds of this
process per request (``resource.getrusage``) and wall milliseconds per request, one thread,
``--requests`` sequential POSTs of a play-sized JSON body per client and round.

    python -m bench.http_cost [--requests 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.common import emit, log, machine, summarize
from service.acs.transport import KeepAlive
from service.embedded_redis import free_port
from service.processes import terminate

BODY = json.dumps(
    {
        "playSources": [{"kind": "file", "file": {"uri": "https://cdn.example/prompt.wav"}}],
        "playOptions": {"loop": False},
        "operationContext": "sq_0123456789abcdef0123.1",
        "operationCallbackUri": "https://callcue.example/callbacks/acs",
    }
).encode()
HEADERS = {
    "Content-Type": "application/json",
    "x-ms-date": "Tue, 24 Nov 2026 06:00:00 GMT",
    "x-ms-content-sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    "Authorization": "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=x",
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measure(send: Callable[[], int], n: int) -> tuple[float, float]:
    """(wall ms, CPU ms) per request."""
    wall, cpu = time.perf_counter(), _cpu()
    for _ in range(n):
        if send() != 202:
            raise RuntimeError("the bare endpoint did not answer 202")
    return (time.perf_counter() - wall) / n * 1000, (_cpu() - cpu) / n * 1000


def _keep_alive(url: str, n: int) -> tuple[float, float]:
    transport = KeepAlive(timeout=5.0)
    try:
        return _measure(lambda: transport.request("POST", url, BODY, HEADERS).status, n)
    finally:
        transport.close()


def _wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.post(url, content=b"{}", timeout=1).status_code == 202:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"bench.bare_app did not answer at {url}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.http_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    port = free_port()
    url = f"http://127.0.0.1:{port}/callbacks/acs"  # bench.bare_app's one route: reads the body, answers 202
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(port), "--no-access-log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    runs: dict[str, dict[str, list[float]]] = {c: {"wall": [], "cpu": []} for c in ("httpx", "http.client")}
    try:
        _wait_ready(url, server)
        for _ in range(args.rounds):
            with httpx.Client() as client:
                wall, cpu = _measure(lambda: client.post(url, content=BODY, headers=HEADERS).status_code, args.requests)
            runs["httpx"]["wall"].append(wall)
            runs["httpx"]["cpu"].append(cpu)
            wall, cpu = _keep_alive(url, args.requests)
            runs["http.client"]["wall"].append(wall)
            runs["http.client"]["cpu"].append(cpu)
    finally:
        terminate(server)
    figures: dict[str, Any] = {
        name: {"wall_ms": summarize(r["wall"], 3), "cpu_ms": summarize(r["cpu"], 3)} for name, r in runs.items()
    }
    ratio = figures["http.client"]["cpu_ms"]["median"] / figures["httpx"]["cpu_ms"]["median"]
    figures["cpu_ratio"] = round(ratio, 2)
    figures["requests"] = args.requests
    figures["machine"] = machine()
    for name in ("httpx", "http.client"):
        log(
            f"  {name:<12} {figures[name]['cpu_ms']['median']} ms CPU, {figures[name]['wall_ms']['median']} ms wall"
            " per keep-alive POST"
        )
    log(f"  http.client / httpx CPU: {figures['cpu_ratio']}")
    emit("http_cost", figures)
    return figures


if __name__ == "__main__":
    main()
