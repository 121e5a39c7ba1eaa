"""The recent calls the /ui index lists: ``cc:calls`` by last activity, each with where it stands."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import redis
import redis.asyncio

from service import timeline
from service.documents import CallDoc
from service.errors import StoreUnavailable
from service.store import CALLS, as_text, call_key, timeline_key


@dataclass(frozen=True)
class RecentCall:
    call_id: str
    last_activity: float  # unix seconds
    sequences: int
    active: str | None
    queued: int
    gone: bool
    last_entry: dict[str, Any] | None  # the newest timeline entry: what happened last

    @property
    def state(self) -> str:
        if self.gone:
            return "gone"
        return "playing" if self.active else "idle"


async def recent_calls(client: redis.asyncio.Redis, limit: int = 50) -> list[RecentCall]:
    """Newest first. ``cc:calls`` outlives the calls' own keys (they expire): those are left out."""
    try:
        reply = await client.zrevrange(CALLS, 0, limit - 1, withscores=True)
        # redis-py types the reply as every shape ZREVRANGE can have; with scores it is (member, score) pairs.
        ranked = cast(list[tuple[bytes | str, float]], reply)
        pipe = client.pipeline(transaction=False)
        for member, _ in ranked:
            pipe.hget(call_key(as_text(member)), "d")
            pipe.lindex(timeline_key(as_text(member)), -1)
        replies = await pipe.execute() if ranked else []
    except redis.RedisError as exc:
        raise StoreUnavailable(f"Redis is unavailable: {exc}") from exc
    calls = []
    for i, (_, score) in enumerate(ranked):
        raw_doc, raw_last = replies[2 * i], replies[2 * i + 1]
        if raw_doc is None:
            continue
        doc = CallDoc.from_json(json.loads(raw_doc), version=0)
        calls.append(RecentCall(
            call_id=doc.id, last_activity=score / 1000, sequences=len(doc.sequences), active=doc.active,
            queued=len(doc.queue), gone=doc.gone,
            last_entry=timeline.expand(json.loads(raw_last), {}) if raw_last is not None else None,
        ))  # fmt: skip
    return calls
