"""The worker process: an RQ worker (no fork per job) with the pump thread beside it."""

from __future__ import annotations

import importlib
import logging
import threading

from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from service import redis_health
from service.settings import Settings
from workers import context
from workers.pump import Pump

log = logging.getLogger("callcue.worker")

# RQ checks for abandoned jobs of dead workers at this interval (its default is 10 minutes);
# callcue's own leases and watchdog notice a lost play sooner still.
MAINTENANCE_INTERVAL = 15


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
    worker = SimpleWorker(
        [queue], connection=ctx.redis, serializer=JSONSerializer, maintenance_interval=MAINTENANCE_INTERVAL
    )
    log.info("worker %s listening on %s", worker.name, queue.name)
    # RQ logs two INFO lines per job, one of them before the job runs: at hundreds of plays a
    # second that is noise on the play's critical path, and callcue logs each entry itself.
    rq_level = "DEBUG" if settings.log_level == "DEBUG" else "WARNING"
    try:
        worker.work(burst=burst, logging_level=rq_level, with_scheduler=False)
    finally:
        pump.stop()
        pump_thread.join(timeout=5)
        ctx.close()
    return 0
