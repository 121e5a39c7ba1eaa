"""Child processes of a local callcue (dev stack, embedded Redis, benchmarks): wait for them, end them."""

from __future__ import annotations

import signal
import subprocess
import time

import httpx


class NotReady(Exception):
    """A process died, or did not answer its health URL in time."""


def wait_http(url: str, process: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    """Until ``url`` answers 200; fails early if ``process`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise NotReady(f"the process behind {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise NotReady(f"{url} did not answer within {timeout} s")


def terminate(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
    """Send ``sig``, give the process ``timeout`` seconds to finish, then kill it; its exit code."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(sig)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=timeout)
