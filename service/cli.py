"""The `callcue` command: the processes (web, worker, emulator), and dev and demo for a local run."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading

from service.client import add_client_commands
from service.errors import ConfigurationError
from service.logs import configure
from service.settings import Settings


def _freeze_startup_objects() -> None:
    """Move everything alive after start-up out of the collector's view.

    A full collection of the start-up heap (starlette, redis, rq, httpx...) takes 25-35 ms here,
    and it lands in the middle of a request or a play as a pause (docs/PERFORMANCE.md).
    """
    gc.collect()
    gc.freeze()


def _web(args: argparse.Namespace) -> int:
    import uvicorn

    from service.web.app import create_app
    from service.web.server import HttpProtocol

    settings = Settings.from_env()
    host = args.host or settings.host
    port = args.port or settings.port
    # timeout_graceful_shutdown: on SIGTERM, in-flight requests get this long to finish.
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,  # keep the JSON handler configured above
        timeout_graceful_shutdown=10,
        http=HttpProtocol,
    )
    _freeze_startup_objects()
    # The youngest generation is collected every 700 net allocations by default: in the web, every
    # request or two, each time walking what the requests in flight hold (~6 % of its CPU under load).
    gc.set_threshold(10_000, 10, 10)
    uvicorn.Server(config).run()
    return 0


def _worker(args: argparse.Namespace) -> int:
    from workers.main import run

    _freeze_startup_objects()
    return run(Settings.from_env(), burst=args.burst)


def _dev(args: argparse.Namespace) -> int:
    from service.devstack import DevStack

    stack = DevStack(workers=args.workers, speed=args.speed)
    stack.start()
    print(f"callcue is running: {stack.web_url}")
    print(f"  API key:   {stack.api_key}")
    print(f"  live page: {stack.web_url}/ui/?key={stack.api_key}")
    if stack.emulator_url:
        print(f"  emulator:  {stack.emulator_url} (ACS stand-in)")
    print(f"  logs:      {stack.log_dir}")
    print("Ctrl-C stops everything.")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from service.demo import run

    return run()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="callcue", description="Prompt sequences for ACS calls.")
    sub = p.add_subparsers(dest="command", required=True)
    web = sub.add_parser("web", help="the HTTP service: callback receiver and API")
    web.add_argument("--host", default=None)
    web.add_argument("--port", type=int, default=None)
    web.set_defaults(func=_web)
    worker = sub.add_parser("worker", help="an RQ worker that sends every request to ACS")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker.set_defaults(func=_worker)
    dev = sub.add_parser("dev", help="web + worker + embedded Redis + emulator, until Ctrl-C")
    dev.add_argument("--workers", type=int, default=1)
    dev.add_argument("--speed", type=float, default=1.0, help="emulator speed factor")
    dev.set_defaults(func=_dev)
    demo = sub.add_parser("demo", help="play a three-prompt sequence end to end and check what happened")
    demo.set_defaults(func=_demo)
    sub.add_parser("emulator", help="the ACS emulator (see `callcue emulator --help`)", add_help=False)
    add_client_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["emulator"]:
        from emulator.cli import main as emulator_main

        return emulator_main(argv[1:])
    args = parser().parse_args(argv)
    # The processes log JSON lines (for a log pipeline); the commands a person runs, plain text.
    settings_level = os.environ.get("CALLCUE_LOG_LEVEL", "INFO").upper()
    configure(
        settings_level if settings_level in logging.getLevelNamesMapping() else "INFO",
        json_lines=args.command in ("web", "worker"),
    )
    try:
        result: int = args.func(args)
        return result
    except ConfigurationError as exc:
        print(f"callcue: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
