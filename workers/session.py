"""A play session: the RQ job that runs claimed outbox entries goes on taking the ones claimed after it.

RQ's bookkeeping costs a worker 4-5 ms of CPU per job, about 2.5 ms of it before the job starts:
more than a play itself (docs/PERFORMANCE.md). So a job does not end with the entries it was
enqueued with. For up to ``job_session_seconds`` the pump of the same process hands it what it
claims next (prefetching, in the queue-worker sense), and the pump enqueues a new RQ job only when
no job of this process is taking entries. Every entry is still claimed with a lease by a pump and
run by ``jobs.run_entry`` inside an RQ job on a worker; what changes is how many entries share one
job, and so how much of RQ's cost each play pays.

A session runs its entries on a small thread pool, so one slow request to ACS does not hold up the
plays claimed after it. A warm shutdown (SIGTERM) closes the session: it takes no more entries,
finishes those in hand, and the job ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from service.store import Loaded

log = logging.getLogger("callcue.worker")

POOL_SIZE = 16  # concurrent requests to ACS per worker process
# Entries a session holds (running or waiting for a thread) at most. A full session's pump claims
# nothing until there is room: what is due stays in the outbox, where any other worker's pump may
# take it, instead of queueing in this process's memory.
HOLD_LIMIT = 2 * POOL_SIZE
STOP_CHECK = 0.1  # seconds: how soon a waiting session notices that it was closed


Claimed = tuple[str, Loaded | None]  # an outbox entry, and its sequence as read when it was claimed
RunEntry = Callable[[str, Loaded | None], str]


class Session:
    """The entries of this process's running job, and the hand-over from the pump to it.

    The pump submits what it claims to the session's thread pool itself, so a play that was due
    goes from the pump's thread straight to the thread that sends it; the job's own thread only
    keeps the session open and waits for its plays at the end.
    """

    def __init__(self, pool_size: int = POOL_SIZE, hold_limit: int = HOLD_LIMIT) -> None:
        self._cond = threading.Condition()
        self._held = 0  # submitted, not yet finished
        self._count = 0  # submitted during this job
        self._open = False  # a job is running and takes entries
        self._closing = False
        self._run_entry: RunEntry | None = None
        self._pool_size = pool_size
        self._hold_limit = hold_limit
        # A full session's pump waits until every thread has at most its current entry left, then
        # claims a batch: one round for many entries, and no thread idle meanwhile.
        self._refill_at = max(0, hold_limit - pool_size)
        self._pool: ThreadPoolExecutor | None = None

    def offer(self, entries: list[Claimed]) -> bool:
        """Hand claimed entries to the job running in this process; False when there is none, or
        when it already holds as many as it should."""
        with self._cond:
            if not self._open or (entries and self._held + len(entries) > self._hold_limit):
                return False
            self._submit(entries)
            return True

    def room(self) -> int | None:
        """How many more entries the running job takes; None when no job is taking entries."""
        with self._cond:
            return max(0, self._hold_limit - self._held) if self._open else None

    def wait_for_start(self, timeout: float) -> None:
        """Until a job of this process takes entries, or ``timeout`` seconds passed."""
        with self._cond:
            self._cond.wait_for(lambda: self._open, timeout)

    def wait_for_room(self, timeout: float) -> None:
        """Until the running job has room for a batch again, or ends, or ``timeout`` seconds passed."""
        with self._cond:
            self._cond.wait_for(lambda: not self._open or self._held <= self._refill_at, timeout)

    def close(self) -> None:
        """Take no more entries and end after those in hand. Only sets a flag: it is called from a
        signal handler, which may interrupt this thread while it holds the lock."""
        self._closing = True

    def run(self, entries: list[str], run_entry: RunEntry, seconds: float) -> int:
        """Run ``entries``, and those offered meanwhile for up to ``seconds``; how many ran."""
        deadline = time.monotonic() + seconds
        with self._cond:
            self._run_entry = run_entry
            self._count = 0
            self._submit([(entry, None) for entry in entries])
            self._open = not self._closing and seconds > 0
            self._cond.notify_all()  # a pump waiting for this job to start
            try:
                while self._open and not self._closing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(min(left, STOP_CHECK))
            finally:
                self._stop_taking()
                # Every entry submitted was claimed for this job: it ends when they have run.
                self._cond.wait_for(lambda: self._held == 0)
            return self._count

    def _submit(self, entries: list[Claimed]) -> None:
        """Called with the lock held."""
        run_entry = self._run_entry
        assert run_entry is not None
        pool = self._executor()
        for entry, loaded in entries:
            pool.submit(self._one, run_entry, entry, loaded)
        self._held += len(entries)
        self._count += len(entries)

    def _stop_taking(self) -> None:
        self._open = False
        self._cond.notify_all()  # a pump waiting for room enqueues a new job instead

    def _one(self, run_entry: RunEntry, entry: str, loaded: Loaded | None) -> str:
        try:
            return run_entry(entry, loaded)
        except Exception:
            # The entry stays leased in the outbox: after the lease a pump claims it again.
            log.exception("outbox entry %s failed; it is tried again after its lease", entry)
            return "failed"
        finally:
            with self._cond:
                self._held -= 1
                # Wake only who waits for this: a pump for room, the job for its last play.
                if self._held in (0, self._refill_at):
                    self._cond.notify_all()

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._pool_size, thread_name_prefix="callcue-play")
        return self._pool


SESSION = Session()  # one per worker process: RQ runs one job at a time in it
