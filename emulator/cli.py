"""``callcue emulator`` / ``python -m emulator``: run the emulator under uvicorn.

Once it accepts connections it prints exactly one line to stdout, ``callcue emulator listening on
http(s)://H:P`` (with the real port when ``--port 0``), preceded with ``--tls`` by ``callcue
emulator certificate: <path>``. Supervisors and tests wait for that line.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path

import uvicorn

from emulator.app import create_app
from emulator.config import DEFAULT_ISSUER, DEFAULT_RESOURCE_ID, ConfigError, EmulatorConfig
from emulator.tls import write_self_signed

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcue emulator", description="An ACS Call Automation emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port (printed when ready)")
    parser.add_argument("--access-key", required=True, help="base64 key, as in the ACS connection string")
    parser.add_argument("--speed", type=float, default=1.0, help="play audio this many times faster")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a fresh self-signed certificate")
    parser.add_argument("--resource-id", default=DEFAULT_RESOURCE_ID, help="the JWT audience of GA callbacks")
    parser.add_argument("--issuer", default=DEFAULT_ISSUER, help="the JWT issuer of GA callbacks")
    parser.add_argument("--callback-retries", type=int, default=3)
    parser.add_argument("--callback-timeout", type=float, default=5.0, help="seconds per callback attempt")
    parser.add_argument("--callback-concurrency", type=int, default=8, help="callbacks in flight at once")
    parser.add_argument("--seed", type=int, default=None, help="seed for probabilistic faults")
    parser.add_argument("--log-level", choices=_LOG_LEVELS, default="warning")
    return parser


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints the readiness line once its sockets accept connections."""

    def __init__(self, config: uvicorn.Config, line: str) -> None:
        super().__init__(config)
        self._line = line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(self._line, flush=True)


def _bind(host: str, port: int) -> socket.socket:
    # Bound here rather than by uvicorn so that the real port of --port 0 is known before serving.
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


def _exit_on_sigterm() -> None:
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal; with the default
    # disposition that kills the process before the certificate directory is removed.
    def _raise_exit(signum: int, frame: object) -> None:
        raise SystemExit(0)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_exit)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = EmulatorConfig(
            access_key=args.access_key,
            host=args.host,
            port=args.port,
            speed=args.speed,
            tls=args.tls,
            resource_id=args.resource_id,
            issuer=args.issuer,
            callback_retries=args.callback_retries,
            callback_timeout=args.callback_timeout,
            callback_senders=args.callback_concurrency,
            seed=args.seed,
        )
    except ConfigError as exc:
        print(f"callcue emulator: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    try:
        sock = _bind(config.host, config.port)
    except OSError as exc:
        print(f"callcue emulator: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    host = f"[{config.host}]" if ":" in config.host else config.host
    tls_dir: Path | None = None
    ssl_options: dict[str, str] = {}
    if config.tls:
        tls_dir = Path(tempfile.mkdtemp(prefix="callcue-emulator-tls-"))
        files = write_self_signed(tls_dir)
        ssl_options = {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)}
        print(f"callcue emulator certificate: {files.cert}", flush=True)
    scheme = "https" if config.tls else "http"
    app = create_app(config)
    app.state.emulator.keys.ensure_key()  # now, rather than stalling the first GA callback
    uv_config = uvicorn.Config(
        app,
        log_level=args.log_level,
        access_log=False,  # costs ~40 % of throughput (reference/measured-baselines.md)
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=1,  # a dev tool: stop promptly even if a client holds a connection
        **ssl_options,  # type: ignore[arg-type]
    )
    server = _AnnouncingServer(uv_config, f"callcue emulator listening on {scheme}://{host}:{port}")
    _exit_on_sigterm()
    try:
        server.run(sockets=[sock])
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        sock.close()
        if tls_dir is not None:
            shutil.rmtree(tls_dir, ignore_errors=True)
    return 0 if server.started else 1
