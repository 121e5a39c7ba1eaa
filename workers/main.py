"""The worker process: an RQ worker (no fork per job) with the pump thread beside it."""

from __future__ import annotations

import importlib
import logging
import threading
from types import FrameType

from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from service import redis_health
from service.settings import Settings
from workers import context
from workers.pump import Pump
from workers.session import SESSION

log = logging.getLogger("callcue.worker")

# RQ checks for abandoned jobs of dead workers at this interval (its default is 10 minutes);
# callcue's own leases and watchdog notice a lost play sooner still.
MAINTENANCE_INTERVAL = 15


class Worker(SimpleWorker):
    """RQ's SimpleWorker, whose warm shutdown also ends the running job's session (workers/session.py)."""

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        SESSION.close()  # the job finishes the plays in hand, takes no more, and returns
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


def run(settings: Settings, *, burst: bool = False) -> int:
    ctx = context.build(settings)
    context.install(ctx)
    report = redis_health.check_sync(ctx.redis, settings.production)
    for problem in report["problems"]:
        log.warning("Redis: %s", problem)
    # RQ would import the job module at the first job, on that play's critical path.
    importlib.import_module("workers.jobs")
    queue = Queue(settings.queue_name, connection=ctx.redis, serializer=JSONSerializer)
    pump = Pump(ctx, queue)
    pump_thread = threading.Thread(target=pump.run, name="callcue-pump", daemon=True)
    pump_thread.start()
    # SimpleWorker runs jobs in this process: a forking worker costs ~10 ms per job, more than
    # the play request itself (see docs/PERFORMANCE.md).
    worker = Worker([queue], connection=ctx.redis, serializer=JSONSerializer, maintenance_interval=MAINTENANCE_INTERVAL)
    log.info("worker %s listening on %s", worker.name, queue.name)
    # RQ logs two INFO lines per job, one of them before the job runs: at hundreds of plays a
    # second that is noise on the play's critical path, and callcue logs each entry itself.
    rq_level = "DEBUG" if settings.log_level == "DEBUG" else "WARNING"
    if burst:
        SESSION.close()  # a burst worker is to end when the queue is empty, not wait for more plays
    try:
        worker.work(burst=burst, logging_level=rq_level, with_scheduler=False)
    finally:
        pump.stop()
        pump_thread.join(timeout=5)
        ctx.close()
    return 0
