"""Redis persistence: keys, the two Lua scripts, and a store for asyncio (web) and one for threads (workers).

Every transition is one call of the commit script: it checks the versions of the documents it
read (and, for a callback, that the event was not applied before), then writes documents,
outbox and watchdog entries, history and timeline together. Either all of it lands or none.

Keys (``<call>`` a callConnectionId, ``<sid>`` a sequence id, ``<ctx>`` an operationContext):

    cc:seq:<sid>     hash  v (version), d (SequenceDoc JSON), c (call id)
    cc:call:<call>   hash  v, d (CallDoc JSON)
    cc:tl:<call>     list  the call's timeline, oldest first (service.timeline's compact entries)
    cc:ev:<sid>      list  every event received for the sequence's operations, duplicates and late
                           ones included; each record names its operation's index as "i"
    cc:seen:<call>   set   digests of events already applied, and of Idempotency-Keys used (dedupe)
    cc:idem:<call>   hash  Idempotency-Key -> the sequence id it created
    cc:calls         zset  call ids by last activity
    cc:outbox        zset  follow-ups by due time (ms); workers.pump turns them into RQ jobs
    cc:watch         zset  watchdog entries by deadline (ms)
    cc:wake          list  a nudge to the pump that the outbox changed
    cc:metrics       hash  deployment-wide counters and histograms (service.metrics)
    cc:pumps         zset  pump heartbeats (host:pid -> last beat, ms)

Per-call keys expire ``retention_seconds`` after the call's last change.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson
import redis
import redis.asyncio
from redis.commands.core import AsyncScript

from service import timeline
from service.batching import ScriptBatcher
from service.documents import CallDoc, Change, SequenceDoc, millis, parse_operation_context
from service.errors import Conflict, StoreUnavailable
from service.metrics import METRICS_KEY

OUTBOX = "cc:outbox"
WATCH = "cc:watch"
WAKE = "cc:wake"
CALLS = "cc:calls"
PUMPS = "cc:pumps"
CAS_ATTEMPTS = 20


def seq_key(sid: str) -> str:
    return f"cc:seq:{sid}"


def call_key(call_id: str) -> str:
    return f"cc:call:{call_id}"


def timeline_key(call_id: str) -> str:
    return f"cc:tl:{call_id}"


def events_key(sid: str) -> str:
    return f"cc:ev:{sid}"


def event_item(ctx: str, record: dict[str, Any]) -> tuple[str, str]:
    """Where an operation's event record goes, and what is stored: one list per sequence
    (a key per operation would cost Redis ~170 bytes of overhead for each play)."""
    parsed = parse_operation_context(ctx)
    sid, index = parsed if parsed is not None else (ctx, -1)
    item = {"i": index, **record}
    if isinstance(item.get("at"), float):
        item["at"] = millis(item["at"])
    return events_key(sid), _dumps(item)


def dedupe_member(key: str) -> str:
    """A fixed 16 characters instead of the ~80 of an event's content key: the set is kept per call
    for the retention period, and 96 bits keep collisions out of reach."""
    return base64.b64encode(hashlib.blake2b(key.encode(), digest_size=12).digest()).decode()


def seen_key(call_id: str) -> str:
    return f"cc:seen:{call_id}"


def idempotency_key(call_id: str) -> str:
    return f"cc:idem:{call_id}"


# Reads a sequence (or only a call) and the call's active and queued sequences, in one round trip.
# A function, so that the workers' claim of outbox entries can read their sequences in the same call.
LOAD_FUNCTION = """
local function load(sid, call_id)
  local out = {'', '', '', ''}
  if sid ~= '' then
    local s = redis.call('HMGET', 'cc:seq:' .. sid, 'v', 'd', 'c')
    if not s[1] then return {} end
    out[1], out[2], call_id = s[1], s[2], s[3]
  end
  local c = redis.call('HMGET', 'cc:call:' .. call_id, 'v', 'd')
  if c[1] then
    out[3], out[4] = c[1], c[2]
    local doc = cjson.decode(c[2])
    local ids = doc['queue']
    if type(doc['active']) == 'string' then table.insert(ids, 1, doc['active']) end
    for _, id in ipairs(ids) do
      if id ~= sid then
        local r = redis.call('HMGET', 'cc:seq:' .. id, 'v', 'd')
        if r[1] then table.insert(out, r[1]); table.insert(out, r[2]) end
      end
    end
  end
  return out
end
"""
_LOAD = LOAD_FUNCTION + "return load(ARGV[1], ARGV[2])\n"

# ARGV[1]: JSON {"check": [[key, version]...], "unseen": [set, member] | null, "cmds": [[cmd, args...]...]}
_COMMIT = """
local tx = cjson.decode(ARGV[1])
for _, chk in ipairs(tx['check']) do
  local v = redis.call('HGET', chk[1], 'v') or '0'
  if v ~= chk[2] then return 'conflict' end
end
if type(tx['unseen']) == 'table' and redis.call('SISMEMBER', tx['unseen'][1], tx['unseen'][2]) == 1 then
  return 'duplicate'
end
for _, cmd in ipairs(tx['cmds']) do redis.call(unpack(cmd)) end
return 'ok'
"""


class Committed(Enum):
    OK = "ok"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"


@dataclass
class Loaded:
    call_id: str
    seq: SequenceDoc | None
    call: CallDoc
    related: list[SequenceDoc] = field(default_factory=list)  # the call's active and queued sequences


def _dumps(value: Any) -> str:
    # orjson: the documents are encoded on every transition; it is ~10x the stdlib's speed.
    return orjson.dumps(value).decode()


def as_text(value: bytes | str) -> str:
    """A Redis reply as text (the clients answer bytes unless asked to decode)."""
    return value.decode() if isinstance(value, bytes) else value


def decode_loaded(reply: list[bytes | str], call_id: str) -> Loaded | None:
    if not reply:
        return None
    parts = [as_text(x) for x in reply]
    seq = SequenceDoc.from_json(orjson.loads(parts[1]), int(parts[0])) if parts[0] else None
    if seq is not None:
        call_id = seq.call_id
    call = CallDoc.from_json(orjson.loads(parts[3]), int(parts[2])) if parts[2] else CallDoc(id=call_id)
    related = [SequenceDoc.from_json(orjson.loads(parts[i + 1]), int(parts[i])) for i in range(4, len(parts), 2)]
    return Loaded(call_id=call_id, seq=seq, call=call, related=related)


def encode_change(change: Change, retention: int, now: float) -> str:
    ttl = str(retention)
    check: list[list[str]] = []
    cmds: list[list[str]] = []
    seen: set[str] = set()
    for seq in change.sequences:
        if seq.id in seen:
            continue
        seen.add(seq.id)
        key = seq_key(seq.id)
        # A new sequence has version 0, which is also what a missing key reads as: ids never collide.
        check.append([key, str(seq.version)])
        doc = _dumps(seq.to_json())
        cmds += [["HSET", key, "v", str(seq.version + 1), "d", doc, "c", seq.call_id], ["EXPIRE", key, ttl]]
    if change.call is not None:
        key = call_key(change.call_id)
        check.append([key, str(change.call.version)])
        cmds += [
            ["HSET", key, "v", str(change.call.version + 1), "d", _dumps(change.call.to_json())],
            ["EXPIRE", key, ttl],
        ]
    for entry in change.done:
        cmds.append(["ZREM", OUTBOX, entry])
    for entry, due in change.outbox:
        cmds.append(["ZADD", OUTBOX, str(int(due * 1000)), entry])
    if change.outbox:
        cmds += [["LPUSH", WAKE, "1"], ["LTRIM", WAKE, "0", "63"]]
    for entry in change.unwatch:
        cmds.append(["ZREM", WATCH, entry])
    for entry, deadline in change.watch:
        cmds.append(["ZADD", WATCH, str(int(deadline * 1000)), entry])
    for ctx, record in change.events:
        key, item = event_item(ctx, record)
        cmds += [["RPUSH", key, item], ["EXPIRE", key, ttl]]
    if change.timeline:
        key = timeline_key(change.call_id)
        cmds += [["RPUSH", key, *(_dumps(timeline.compact(t)) for t in change.timeline)], ["EXPIRE", key, ttl]]
    if change.idempotency is not None:
        key, sid = change.idempotency
        change.dedupe = f"idem:{key}"
        cmds += [["HSET", idempotency_key(change.call_id), key, sid], ["EXPIRE", idempotency_key(change.call_id), ttl]]
    unseen = None
    if change.dedupe is not None:
        key = seen_key(change.call_id)
        member = dedupe_member(change.dedupe)
        unseen = [key, member]
        cmds += [["SADD", key, member], ["EXPIRE", key, ttl]]
    for name, n in change.counts.items():
        cmds.append(["HINCRBY", METRICS_KEY, name, str(n)])
    for name, value in change.sums.items():
        cmds.append(["HINCRBYFLOAT", METRICS_KEY, name, repr(value)])
    cmds.append(["ZADD", CALLS, str(int(now * 1000)), change.call_id])
    return _dumps({"check": check, "unseen": unseen, "cmds": cmds})


def decode_commit(reply: bytes | str) -> Committed:
    return Committed(as_text(reply))


class AsyncStore:
    """The web process's view of Redis (redis.asyncio)."""

    def __init__(self, client: redis.asyncio.Redis, retention: int) -> None:
        self.redis = client
        self.retention = retention
        self._load = client.register_script(_LOAD)
        self._commit = client.register_script(_COMMIT)
        # Loads and commits of concurrent requests share round trips (service.batching).
        self._batch = ScriptBatcher(client)

    async def aclose(self) -> None:
        await self._batch.aclose()

    def register(self, source: str) -> AsyncScript:
        return self.redis.register_script(source)

    async def run(self, script: AsyncScript, args: list[Any]) -> Any:
        """A script's reply; the call shares its round trip with those of concurrent requests."""
        try:
            return await self._batch.run(script, args)
        except (redis.RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis is unavailable: {exc}") from exc

    async def load(self, sid: str = "", call_id: str = "") -> Loaded | None:
        return decode_loaded(await self.run(self._load, [sid, call_id]), call_id)

    async def commit(self, change: Change, now: float) -> Committed:
        return decode_commit(await self.run(self._commit, [encode_change(change, self.retention, now)]))

    async def transact(
        self, now: Callable[[], float], fn: Callable[[Loaded], Change | None], sid: str = "", call_id: str = ""
    ) -> tuple[Committed, Change | None, Loaded | None]:
        """Load, compute, commit; again from the start when someone else wrote in between."""
        for _ in range(CAS_ATTEMPTS):
            loaded = await self.load(sid, call_id)
            if loaded is None:
                return Committed.OK, None, None
            change = fn(loaded)
            if change is None or change.empty:
                return Committed.OK, change, loaded
            result = await self.commit(change, now())
            if result is Committed.OK:
                change.committed()
            if result is not Committed.CONFLICT:
                return result, change, loaded
        raise Conflict("too many concurrent changes to one sequence; try again")

    async def append_event(self, ctx: str, record: dict[str, Any]) -> None:
        await self._call(self.redis.rpush(*event_item(ctx, record)))

    async def operation_events(self, sid: str, index: int) -> list[dict[str, Any]]:
        """The event records of one operation, oldest first."""
        records = await self.read_list(events_key(sid))
        return [{k: v for k, v in r.items() if k != "i"} for r in records if r.get("i") == index]

    async def read_timeline(self, call_id: str, since: int = 0) -> list[dict[str, Any]]:
        """Timeline entries from index ``since`` as stored; ``service.timeline.expand`` shows them."""
        return await self.read_list(timeline_key(call_id), since)

    async def add_metrics(self, counts: Counter[str]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for name, n in counts.items():
            pipe.hincrby(METRICS_KEY, name, n)
        await self._call(pipe.execute())

    async def idempotent_sequence(self, call_id: str, key: str) -> str | None:
        value = await self._call(self.redis.hget(idempotency_key(call_id), key))
        return None if value is None else as_text(value)

    async def push_capped(self, key: str, value: str, keep: int) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(key, value)
        pipe.ltrim(key, 0, keep - 1)
        await self._call(pipe.execute())

    async def read_hash(self, key: str) -> dict[str, str]:
        raw = await self._call(self.redis.hgetall(key))
        return {as_text(k): as_text(v) for k, v in raw.items()}

    async def read_list(self, key: str, start: int = 0) -> list[dict[str, Any]]:
        items = await self._call(self.redis.lrange(key, start, -1))
        return [orjson.loads(x) for x in items]

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        try:
            return await awaitable
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis is unavailable: {exc}") from exc


class SyncStore:
    """The workers' view of Redis (blocking redis-py). Same scripts, same encoding."""

    def __init__(self, client: redis.Redis, retention: int) -> None:
        self.redis = client
        self.retention = retention
        self._load = client.register_script(_LOAD)
        self._commit = client.register_script(_COMMIT)

    def load(self, sid: str = "", call_id: str = "") -> Loaded | None:
        return decode_loaded(self._load(args=[sid, call_id]), call_id)

    def commit(self, change: Change, now: float) -> Committed:
        return decode_commit(self._commit(args=[encode_change(change, self.retention, now)]))

    def transact(
        self,
        now: Callable[[], float],
        fn: Callable[[Loaded], Change | None],
        sid: str = "",
        call_id: str = "",
        first: Loaded | None = None,
    ) -> tuple[Committed, Change | None, Loaded | None]:
        """As AsyncStore.transact; ``first`` saves the first read when the caller has just read."""
        for attempt in range(CAS_ATTEMPTS):
            loaded = first if attempt == 0 and first is not None else self.load(sid, call_id)
            if loaded is None:
                return Committed.OK, None, None
            change = fn(loaded)
            if change is None or change.empty:
                return Committed.OK, change, loaded
            result = self.commit(change, now())
            if result is Committed.OK:
                change.committed()
            if result is not Committed.CONFLICT:
                return result, change, loaded
        raise Conflict("too many concurrent changes to one sequence; try again")
