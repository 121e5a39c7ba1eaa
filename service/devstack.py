"""Every process of a local callcue, started and stopped together: `callcue dev`, the demo, the e2e tests.

Redis is embedded when no ``REDIS_URL`` is set; the ACS emulator stands in when no ACS
connection string is set. web and worker are real subprocesses, configured only through the
environment, exactly as a platform would run them from the Procfile.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import redis

from service.embedded_redis import EmbeddedRedis, free_port
from service.errors import ConfigurationError
from service.processes import NotReady, terminate, wait_http
from service.store import PUMPS


@dataclass
class DevStack:
    workers: int = 1
    speed: float = 1.0  # emulator speed factor: prompts play this many times faster
    callback_retries: int = 3  # how often the emulator re-sends a callback that got no 2xx
    api_version: str = "2021-08-30-preview"
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="callcue-dev-")))
    extra_env: dict[str, str] = field(default_factory=dict)
    # Environment for one process only, at its first start (a respawn runs without it): how
    # the reliability tests arm a crash point in "web" or "worker1".
    process_env: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.redis: EmbeddedRedis | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.env: dict[str, str] = {}
        self.api_key = secrets.token_urlsafe(16)
        self.emulator_url: str | None = None
        self.web_url = ""

    # Everything is launched with this interpreter, so the stack runs from any venv.
    def _spawn(self, name: str, *args: str, first: bool = True) -> subprocess.Popen[bytes]:
        env = {**self.env, **self.process_env.get(name, {})} if first else self.env
        # The child keeps its own copy of the log file's descriptor; ours is closed right away.
        with open(self.log_dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, *args], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes[name] = process
        return process

    def start(self) -> DevStack:
        # Only these two decide what the stack starts; the rest is the processes' business.
        redis_url = os.environ.get("CALLCUE_REDIS_URL") or os.environ.get("REDIS_URL") or None
        acs = os.environ.get("CALLCUE_ACS_CONNECTION_STRING") or None
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCUE_") and k != "REDIS_URL"}
        if redis_url is None:
            self.redis = EmbeddedRedis(self.log_dir / "redis")
            redis_url = self.redis.start()
        web_port = free_port()
        self.web_url = f"http://127.0.0.1:{web_port}"
        env.update(
            CALLCUE_REDIS_URL=redis_url,
            CALLCUE_PORT=str(web_port),
            CALLCUE_PUBLIC_BASE_URL=self.web_url,
            CALLCUE_API_KEYS=self.api_key,
            CALLCUE_CALLBACK_SECRETS=secrets.token_urlsafe(16),
            CALLCUE_ACS_API_VERSION=os.environ.get("CALLCUE_ACS_API_VERSION", self.api_version),
            PYTHONUNBUFFERED="1",
        )
        if acs is None:
            access_key = base64.b64encode(secrets.token_bytes(32)).decode()
            emulator_port = free_port()
            self.emulator_url = f"http://127.0.0.1:{emulator_port}"
            # The emulator is its own JWT issuer for GA callbacks: callcue trusts its keys, as it
            # trusts ACS's in production.
            resource_id = str(uuid.uuid4())
            env.update(
                CALLCUE_ACS_CONNECTION_STRING=f"endpoint={self.emulator_url}/;accesskey={access_key}",
                CALLCUE_ACS_RESOURCE_ID=resource_id,
                CALLCUE_ACS_JWT_ISSUER=self.emulator_url,
                CALLCUE_ACS_JWKS_URL=f"{self.emulator_url}/calling/keys",
            )
            self.env = env
            self._spawn(
                "emulator", "-m", "emulator", "--host", "127.0.0.1", "--port", str(emulator_port),
                "--access-key", access_key, "--speed", str(self.speed), "--resource-id", resource_id,
                "--issuer", self.emulator_url, "--callback-retries", str(self.callback_retries),
            )  # fmt: skip
        else:
            env["CALLCUE_ACS_CONNECTION_STRING"] = acs
        env.update(self.extra_env)
        self.env = env
        self._spawn("web", "-m", "service.cli", "web")
        started_ms = int(time.time() * 1000)
        for i in range(self.workers):
            self._spawn(f"worker{i + 1}", "-m", "service.cli", "worker")
        try:
            if self.emulator_url:
                self.wait_http(f"{self.emulator_url}/emulator/healthz", "emulator")
            self.wait_http(f"{self.web_url}/healthz", "web")
            self.wait_workers(self.workers, since_ms=started_ms)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_http(self, url: str, name: str, timeout: float = 20.0) -> None:
        try:
            wait_http(url, self.processes.get(name), timeout)
        except NotReady as exc:
            raise ConfigurationError(f"{name}: {exc}:\n{self.log_tail(name)}") from None

    def wait_workers(self, count: int, since_ms: int, rq_workers: bool = True, timeout: float = 20.0) -> None:
        """Until ``count`` worker processes take work: their pumps have beaten since ``since_ms`` and,
        with ``rq_workers``, RQ lists as many workers. Work handed to a stack before then waits for
        the workers to finish starting and reaches them in one burst."""
        if count <= 0:
            return
        deadline = time.monotonic() + timeout
        with redis.Redis.from_url(self.env["CALLCUE_REDIS_URL"]) as client:
            while True:
                pumps = client.zcount(PUMPS, since_ms, "+inf")
                listed = client.scard("rq:workers") if rq_workers else count
                if pumps >= count and listed >= count:
                    return
                exited = [n for n, p in self.processes.items() if n.startswith("worker") and p.poll() is not None]
                if exited or time.monotonic() > deadline:
                    name = exited[0] if exited else "worker1"
                    state = f"{name} exited" if exited else f"{pumps} of {count} ready after {timeout} s"
                    raise ConfigurationError(f"workers: {state}:\n{self.log_tail(name)}")
                time.sleep(0.05)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def respawn(self, name: str) -> None:
        """Start a process again under its name (after a crash test killed it)."""
        args = {"web": ("-m", "service.cli", "web")}.get(name, ("-m", "service.cli", "worker"))
        self._spawn(name, *args, first=False)
        if name == "web":
            self.wait_http(f"{self.web_url}/healthz", "web")

    def exited(self) -> dict[str, int]:
        """Processes that have ended, with their exit codes."""
        return {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}

    def stop_process(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        process = self.processes.get(name)
        return terminate(process, sig, timeout) if process is not None else None

    def stop(self) -> None:
        # Workers and web first (they finish in-flight work), then the emulator, then Redis.
        for name in sorted(self.processes, key=lambda n: (n == "emulator", n)):
            self.stop_process(name)
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.web_url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=timeout)

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
