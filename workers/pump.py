"""The pump: turns due outbox entries into RQ jobs, and overdue watch entries into outcomes.

It runs as a thread beside the RQ worker in every worker process. Entries are claimed with a
lease (their score moves ``outbox_lease_seconds`` ahead) rather than removed, so that an entry whose
job or process dies comes back by itself: that is the sweeper. Several pumps may run at once;
a claim is atomic, and a job that still runs twice is stopped by the play ledger.

Pauses and retry delays are outbox due times, so they are kept to the millisecond instead of
RQ's scheduler's one-second tick; a nudge on ``cc:wake`` wakes the pump as soon as the web
process adds an entry. One round (claim what is due, each play with its sequence; claim overdue
watch entries; learn the next due time) is one script call, so a play costs its pump one round
trip besides the wait.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass

import redis
from rq import Queue

from service import sequencer
from service.crashpoints import crash_point
from service.documents import Change, parse_operation_context
from service.model import Outcome, OutcomeKind
from service.store import CALLS, LOAD_FUNCTION, OUTBOX, PUMPS, WAKE, WATCH, Loaded, as_text, decode_loaded
from workers.context import WorkerContext
from workers.session import SESSION, Claimed

log = logging.getLogger("callcue.pump")

IDLE_WAIT = 0.5  # the longest sleep: other pumps' wake-ups are not seen, so poll this often
BATCH = 100
TRIM_EVERY = 60.0  # seconds between two trims of the call index
HEARTBEAT_EVERY = 1.0  # seconds
JOB_START_WAIT = 0.05  # seconds a job just enqueued is given to start before another one is

# One round of a pump in one round trip: claim due outbox entries (at most ARGV[3]; with ARGV[5] = 1
# each play with its sequence read as store.load reads it, so that the running job needs no read),
# claim overdue watch entries, tell when the next entry of either falls due, and clear the nudges
# the round has answered.
_ROUND = (
    LOAD_FUNCTION
    + """
local now, lease, limit, read = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4]), ARGV[5] == '1'
local function claim(key, count)
  if count <= 0 then return {} end
  local due = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, count)
  for _, m in ipairs(due) do redis.call('ZADD', key, now + lease, m) end
  return due
end
local plays = claim(KEYS[1], tonumber(ARGV[3]))
local loads = {}
for i, m in ipairs(plays) do
  local sid = read and string.match(m, '^play:(.+)%.%d+$')
  loads[i] = sid and load(sid, '') or {}
end
local watched = claim(KEYS[2], limit)
local soonest = {}
for i = 1, 2 do
  local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  soonest[i] = first[2] or ''
end
-- Every nudge so far is for an entry this round has taken, unless some are still due: then the
-- nudges stay for another pump. Otherwise they would only wake pumps to rounds that find nothing.
if soonest[1] == '' or tonumber(soonest[1]) > now then redis.call('DEL', KEYS[3]) end
return {plays, loads, watched, soonest}
"""
)


@dataclass(frozen=True, slots=True)
class Round:
    plays: int  # outbox entries claimed and handed to a job
    watched: int  # watch entries claimed and fired
    soonest: float | None  # when the next outbox or watch entry falls due (epoch seconds)


def job_id(entry: str) -> str:
    # RQ accepts [A-Za-z0-9_-]; outbox entries are unique, so their job ids are too.
    return "cc-" + entry.replace(":", "-").replace(".", "_")


class Pump:
    def __init__(self, ctx: WorkerContext, queue: Queue) -> None:
        self.ctx = ctx
        self.queue = queue
        self.lease = ctx.settings.outbox_lease_seconds
        self._round = ctx.redis.register_script(_ROUND)
        self._stop = threading.Event()
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._trimmed_at = 0.0
        self._beat_at = 0.0
        self._enqueued_at = -JOB_START_WAIT
        self.held_back = False  # the last round left due entries for a job about to start

    def stop(self) -> None:
        self._stop.set()

    def round(self, now: float) -> Round:
        """Claim what is due, hand the plays to a job and fire the watch entries."""
        room = SESSION.room()
        self.held_back = room is None and self._job_on_its_way()
        # A full session, or a job about to start, takes nothing now: what is due stays in the
        # outbox for another worker, or for that job.
        limit = 0 if room == 0 or self.held_back else BATCH if room is None else min(room, BATCH)
        # Sequences are read only for a running job: a new RQ job gets entry names and reads itself.
        read = room is not None
        plays, loads, watched, soonest = self._round(
            keys=[OUTBOX, WATCH, WAKE], args=[int(now * 1000), int(self.lease * 1000), limit, BATCH, int(read)]
        )
        claimed: list[Claimed] = []
        for raw, reply in zip(plays, loads, strict=True):
            entry = as_text(raw)
            claimed.append((entry, decode_loaded(reply, "") if read and entry.startswith("play:") else None))
        if claimed:
            self.dispatch(claimed)
        fired = 0
        for raw in watched:
            entry = as_text(raw)
            try:
                self.fire(entry)
            except Exception:
                # Leave the entry leased: it comes back after the lease and is tried again.
                log.exception("watchdog entry %s failed", entry)
                continue
            self.ctx.redis.zrem(WATCH, entry)
            fired += 1
        scores = [float(as_text(x)) / 1000 for x in soonest if as_text(x)]
        return Round(len(claimed), fired, min(scores) if scores else None)

    def dispatch(self, claimed: list[Claimed]) -> None:
        crash_point("pump.after_claim")
        # RQ's bookkeeping costs milliseconds per job, the plays do not: the job running in this
        # process takes the entries if there is one (workers/session.py), else one new job takes
        # the whole batch (by name: a job reads its sequences itself).
        if not SESSION.offer(claimed):
            entries = [entry for entry, _ in claimed]
            self.queue.enqueue(
                "workers.jobs.run_entries",
                entries,
                job_id=job_id(entries[0]) if len(entries) == 1 else None,
                result_ttl=0,  # the outcome is in callcue's own documents; RQ's copy would only cost memory
                failure_ttl=3600,
                # Each entry's own run is bounded by its lease; the job may take entries for a session.
                job_timeout=max(1, int(self.lease + self.ctx.settings.job_session_seconds)),
            )
            self._enqueued_at = time.monotonic()
        crash_point("pump.after_enqueue")

    def _job_on_its_way(self) -> bool:
        """A job enqueued a moment ago, or one still in RQ's queue, takes what is due once it starts;
        another job would only wait behind it, since a worker runs one job at a time."""
        if time.monotonic() - self._enqueued_at < JOB_START_WAIT:
            return True
        return bool(self.ctx.redis.llen(self.queue.key))

    def fire(self, entry: str) -> None:
        kind, _, ref = entry.partition(":")
        store = self.ctx.store
        if kind == "op":
            parsed = parse_operation_context(ref)
            if parsed is None:
                return
            sid, index = parsed
            outcome = Outcome(OutcomeKind.TIMED_OUT, message="no result from ACS before the play's deadline")
            jitter = random.random()

            def timed_out(loaded: Loaded) -> Change | None:
                if loaded.seq is None:
                    return None
                return sequencer.on_outcome(
                    loaded.seq, loaded.call, loaded.related, index, outcome, time.time(), jitter
                )

            store.transact(time.time, timed_out, sid=sid)
        elif kind == "deadline":

            def deadline(loaded: Loaded) -> Change | None:
                if loaded.seq is None:
                    return None
                return sequencer.on_deadline(loaded.seq, loaded.call, loaded.related, time.time())

            store.transact(time.time, deadline, sid=ref)

    def trim(self, now: float) -> None:
        """Forget calls whose data has expired, so that the index of calls stays bounded too."""
        if now - self._trimmed_at < TRIM_EVERY:
            return
        self._trimmed_at = now
        horizon = int((now - self.ctx.settings.retention_seconds) * 1000)
        self.ctx.redis.zremrangebyscore(CALLS, "-inf", horizon)
        self.ctx.redis.zremrangebyscore(PUMPS, "-inf", int((now - 3600) * 1000))

    def run_once(self) -> None:
        now = time.time()
        # A heartbeat per pump, once a second (not on every wake-up: that is the play's critical
        # path); /readyz counts the pumps seen in the last few seconds.
        if now - self._beat_at >= HEARTBEAT_EVERY:
            self._beat_at = now
            self.ctx.redis.zadd(PUMPS, {self.name: int(now * 1000)})
        self.trim(now)
        done = self.round(now)
        if SESSION.room() == 0:
            SESSION.wait_for_room(IDLE_WAIT)
            return
        if self.held_back:
            SESSION.wait_for_start(JOB_START_WAIT)
            return
        # Whatever this round took, the next one waits for a nudge or for the next due time: a
        # round right away would mostly find nothing, and costs a round trip.
        wait = IDLE_WAIT if done.soonest is None else min(IDLE_WAIT, max(0.0, done.soonest - time.time()))
        if wait > 0.001:
            self.ctx.redis.blpop([WAKE], timeout=wait)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except redis.RedisError as exc:
                # Redis away: wait and try again; the worker recovers without a restart.
                log.warning("pump: Redis unavailable (%s); retrying", exc)
                self._stop.wait(1.0)
            except Exception:
                log.exception("pump iteration failed")
                self._stop.wait(1.0)
