"""EXPERIMENT, not callcue: a worker process that runs outbox entries itself instead of through RQ.

It is ``callcue worker`` with one change: the pump's ``dispatch`` hands each claimed outbox entry to
a small thread pool that calls ``workers.jobs.run_entry`` directly, where callcue's pump enqueues an
RQ job per entry for a SimpleWorker to run. Everything else is callcue's own code, unchanged: the
claim with a lease (the sweeper), the watchdog, ``run_entry`` (ledger, signed request, acceptance,
outbox removal). bench.whatif runs it to measure what taking RQ off the play path would give
(docs/PERFORMANCE.md, "what to change next"). It is started with the environment of a DevStack:

    python -m bench.direct_worker [--threads 4]
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import FrameType

from rq import Queue
from rq.serializers import JSONSerializer

from service.settings import Settings
from service.store import Loaded
from workers import context
from workers.jobs import run_entry
from workers.pump import Pump
from workers.session import Claimed

log = logging.getLogger("bench.direct_worker")


class DirectPump(Pump):
    """callcue's pump, whose dispatch runs entries in threads instead of enqueueing RQ jobs."""

    def __init__(self, ctx: context.WorkerContext, queue: Queue, threads: int) -> None:
        super().__init__(ctx, queue)
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="direct")
        self.free = threading.BoundedSemaphore(threads)

    def _run(self, entry: str, loaded: Loaded | None) -> None:
        try:
            run_entry(entry, loaded)
        except Exception:
            log.exception("entry %s failed; its lease brings it back", entry)
        finally:
            self.free.release()

    def dispatch(self, claimed: list[Claimed]) -> None:
        for entry, loaded in claimed:
            self.free.acquire()  # no more claimed work in flight than there are threads
            self.pool.submit(self._run, entry, loaded)


def watch_gc(threshold_ms: float = 5.0) -> None:
    """Log every garbage collection that stops the process for more than ``threshold_ms``."""
    started: dict[str, float] = {}

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started["t"] = time.perf_counter()
            return
        took = (time.perf_counter() - started.get("t", time.perf_counter())) * 1000
        if took > threshold_ms:
            log.warning("gc: generation %s took %.1f ms (%s collected)", info["generation"], took, info["collected"])

    gc.callbacks.append(callback)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.direct_worker", description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() once started (see PERFORMANCE.md)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings.from_env()
    ctx = context.build(settings)
    context.install(ctx)
    pump = DirectPump(ctx, Queue(settings.queue_name, connection=ctx.redis, serializer=JSONSerializer), args.threads)

    def stop(signum: int, frame: FrameType | None) -> None:
        pump.stop()

    watch_gc()
    if args.gc_freeze:
        gc.freeze()  # what is alive after start-up is never scanned again by a full collection
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        pump.run()
    finally:
        pump.pool.shutdown(wait=True, cancel_futures=True)
        ctx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
