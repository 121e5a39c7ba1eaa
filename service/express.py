"""The express lane: the most common transition, applied by one Lua script inside Redis.

Almost every callback callcue receives says that a play completed and the next one is due:
mark the operation completed, append the next operation, schedule its play. Done in Python, that
costs a load, decoding the sequence document, the decision, encoding it again and a commit: most
of the web's CPU per callback (docs/PERFORMANCE.md). The script below does exactly that change in
one call, atomically (a script runs alone, so it needs no version check), and writes what the
Python path writes: the same documents, outbox entry, wake-up, history record, timeline entries,
dedupe member and metric.

It takes only the plain case, and a copy of it (the event was applied before: the copy is kept in
the operation's history, as the ordinary path keeps it). It answers ``fallback`` for anything else,
writing nothing: the operation is not the sequence's live current one, the sequence would end (its
last play, or its deadline), or it is not running. The caller then takes the ordinary
path (``service.sequencer`` through ``AsyncStore.transact``), which decides every case. The
policy for a success (``service.policy.after_success``: the next repeat, else the next prompt,
after the prompt's pause) is the one rule repeated here; tests/service/test_express.py checks
that both paths leave the same state in Redis.
"""

from __future__ import annotations

import functools

import orjson

from service.events import CallbackEvent
from service.model import Outcome, OutcomeKind
from service.policy import Category, classify
from service.store import AsyncStore, as_text, dedupe_member

# ARGV: sid, index, now (s), the event (JSON), dedupe member, result (JSON), outcome fields (JSON), metric, ttl.
# The keys and record shapes are service.store's and service.timeline's; see the module docstring.
_COMPLETE = """
local sid, idx, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local index = tonumber(idx)
-- Numbers are turned into text once each: every conversion is a printf inside Redis.
local at = math.floor(now * 1000) / 1000
local at_s = tostring(at)
-- The event's history record, as service.store.event_item writes it (applied, or a copy).
local function record(tail) return '{"i":' .. idx .. ',"at":' .. at_s .. tail end
local key = 'cc:seq:' .. sid
local s = redis.call('HMGET', key, 'v', 'd', 'c')
if not s[1] then return 'fallback' end
local call_id = s[3]
local seen = 'cc:seen:' .. call_id
if redis.call('SISMEMBER', seen, ARGV[5]) == 1 then
  redis.call('RPUSH', 'cc:ev:' .. sid, record(',"duplicate":true,"event":' .. ARGV[4] .. '}'))
  return 'duplicate'
end
-- Only the head of the document and its current operation are decoded. service.documents writes
-- "ops" last, an operation is scheduled by appending it (so the current one is the last), and every
-- operation starts with its index ({"i":N,), which no string in the document can contain unescaped.
-- The operations before it, most of the document, are copied as they are.
local d = s[2]
local ops_at = string.find(d, '"ops":[', 1, true)
local last = string.find(d, '{"i":' .. idx .. ',', ops_at or 1, true)
if not ops_at or not last or string.sub(d, -2) ~= ']}' then return 'fallback' end
local front = string.sub(d, 1, ops_at - 1)
local head = cjson.decode(front .. '"ops":[]}')
local whole, op = pcall(cjson.decode, string.sub(d, last, -3))
if not whole or head['status'] ~= 'running' or head['cur'] ~= index or op['g'] ~= head['gen']
    or (op['st'] ~= 'notStarted' and op['st'] ~= 'running') then
  return 'fallback'
end
local prompts = head['plan']['prompts']
local prompt = prompts[op['s'] + 1]
local step, rep = op['s'], op['r'] + 1
if rep >= (prompt['repeat'] or 1) then step, rep = op['s'] + 1, 0 end
if step >= #prompts then return 'fallback' end
local due = now + (prompt['pauseAfterMs'] or 0) / 1000
if type(head['deadline']) == 'number' and due >= head['deadline'] then return 'fallback' end

local due_ms = math.floor(due * 1000)
local due_s, n, step_s, rep_s = tostring(due_ms / 1000), tostring(index + 1), tostring(step), tostring(rep)
-- What the outcome's timeline entry names: the operation as it was.
local was = ',"p":' .. op['s'] .. ',"r":' .. op['r'] .. ',"a":' .. op['a'] .. '}'
op['i'], op['st'], op['end'], op['res'], op['why'] = nil, 'completed', at, nil, 'completed'
local closed = '{"i":' .. idx .. ',"res":' .. ARGV[6] .. ',' .. string.sub(cjson.encode(op), 2)
-- service.documents.OpRecord.to_json of the next operation.
local opened = '{"i":' .. n .. ',"s":' .. step_s .. ',"r":' .. rep_s .. ',"a":1,"g":' .. op['g']
  .. ',"st":"notStarted","c":' .. at_s .. ',"due":' .. due_s .. '}'
-- "cur" and "updated" are numbers in the head (service.documents); set in place, the rest copied.
local function set_number(text, name, value)
  local _, to = string.find(text, '"' .. name .. '":', 1, true)
  local stop = string.find(text, '[,}]', to + 1)
  return string.sub(text, 1, to) .. value .. string.sub(text, stop)
end
front = set_number(set_number(front, 'cur', n), 'updated', at_s)
local doc = front .. string.sub(d, ops_at, last - 1) .. closed .. ',' .. opened .. ']}'

local ttl = ARGV[9]
redis.call('HSET', key, 'v', tonumber(s[1]) + 1, 'd', doc)
redis.call('EXPIRE', key, ttl)
redis.call('ZADD', 'cc:outbox', due_ms, 'play:' .. sid .. '.' .. n)
if redis.call('LPUSH', 'cc:wake', '1') > 64 then redis.call('LTRIM', 'cc:wake', 0, 63) end
redis.call('ZREM', 'cc:watch', 'op:' .. sid .. '.' .. idx)
redis.call('RPUSH', 'cc:ev:' .. sid, record(',"event":' .. ARGV[4] .. ',"decision":"play"}'))
redis.call('EXPIRE', 'cc:ev:' .. sid, ttl)
-- service.timeline's entries: ARGV[7] is the outcome's own fields, as a JSON object.
local entry = ',"s":"' .. sid .. '","t":' .. at_s
local outcome = string.sub(ARGV[7], 1, -2) .. ',"k":"outcome","i":' .. idx .. entry .. was
local scheduled = '{"k":"playScheduled","i":' .. n .. entry .. ',"p":' .. step_s .. ',"r":' .. rep_s
  .. ',"a":1,"dueAt":' .. due_s .. '}'
redis.call('RPUSH', 'cc:tl:' .. call_id, outcome, scheduled)
redis.call('EXPIRE', 'cc:tl:' .. call_id, ttl)
redis.call('SADD', seen, ARGV[5])
redis.call('EXPIRE', seen, ttl)
redis.call('HINCRBY', 'cc:metrics', ARGV[8], 1)
redis.call('ZADD', 'cc:calls', math.floor(now * 1000), call_id)
return 'ok'
"""


_ANSWERS = {"ok": "applied", "duplicate": "duplicates"}


class Express:
    """The express lane of one web process (its script registered on the store's client)."""

    def __init__(self, store: AsyncStore) -> None:
        self.store = store
        self._script = store.register(_COMPLETE)

    async def complete(self, event: CallbackEvent, sid: str, index: int, now: float, metric: str) -> str | None:
        """Apply a completion of operation ``index`` of ``sid``: the report field it counts under
        ("applied" or "duplicates"), or None: take the ordinary path (nothing was written)."""
        encoded = _success(event.outcome) if event.outcome is not None else None
        if encoded is None:
            return None
        result, fields = encoded
        args = [
            sid,
            str(index),
            repr(now),
            orjson.dumps(event.raw),
            dedupe_member(event.dedupe_key),
            result,
            fields,
            metric,
            str(self.store.retention),
        ]
        return _ANSWERS.get(as_text(await self.store.run(self._script, args)))


@functools.lru_cache(maxsize=256)  # bounded: the message is whatever the sender wrote
def _success(outcome: Outcome) -> tuple[bytes, bytes] | None:
    """A successful completion's result and timeline fields, as JSON (the same few for every
    callback); None for any other outcome."""
    if outcome.kind is not OutcomeKind.COMPLETED:
        return None
    category, reason = classify(outcome)
    if category is not Category.SUCCESS:
        return None
    fields = {"outcome": str(outcome.kind), "code": outcome.code, "subcode": outcome.subcode, "reason": reason}
    return orjson.dumps(outcome.to_json()), orjson.dumps(fields)
