"""A call's timeline as server-sent events: each entry once, in order, as it is appended in Redis.

The timeline is a Redis list that only grows (``cc:tl:<call>``), so an entry's index is a stable
event id: a browser that reconnects sends ``Last-Event-ID`` and the stream resumes right after
it. Polling the list (one LRANGE every ~200 ms per open page) is simpler than pub/sub and cannot
miss an entry written between two reads; an open page costs Redis about five cheap reads a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from service import timeline
from service.documents import SequenceDoc
from service.errors import StoreUnavailable
from service.store import AsyncStore

log = logging.getLogger("callcue.ui")

POLL_SECONDS = 0.2
# Proxies drop connections that stay silent; a comment line now and then also finds closed ones.
HEARTBEAT_SECONDS = 15.0
# A stream ends after this long and the browser reconnects where it left off: no connection (and
# no task holding it) lives forever, whatever happens to the client.
LIFETIME_SECONDS = 30 * 60.0
RETRY_MS = 2000  # how long a browser waits before reconnecting
MAX_OPEN_STREAMS = 200  # per web process: one more gets 503, not a slower process for everyone

_open = 0


def open_streams() -> int:
    return _open


def resume_from(last_event_id: str | None, since: str | None) -> int:
    """The first index to send: after ``Last-Event-ID`` (a reconnect), else ``?since=``, else 0."""
    if last_event_id and last_event_id.strip().isdigit():
        return int(last_event_id.strip()) + 1
    if since and since.isdigit():
        return int(since)
    return 0


def event(name: str, data: dict[str, Any], event_id: int | None = None) -> str:
    # json.dumps escapes newlines inside strings, so the data is always one line, as SSE needs.
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def timeline_events(
    store: AsyncStore, call_id: str, since: int, *, clock: Callable[[], float] = time.monotonic
) -> AsyncIterator[str]:
    """The SSE text of ``call_id``'s timeline from index ``since``, until the lifetime ends or the client goes."""
    global _open
    _open += 1
    try:
        started = last_write = clock()
        plans: dict[str, SequenceDoc] = {}  # a sequence's plan never changes: read each once
        yield f"retry: {RETRY_MS}\n" + event("hello", {"callConnectionId": call_id, "from": since})
        while clock() - started < LIFETIME_SECONDS:
            try:
                stored = await store.read_timeline(call_id, since)
                for sid in timeline.sequence_ids(stored) - plans.keys():
                    loaded = await store.load(sid)
                    if loaded is not None and loaded.seq is not None:
                        plans[sid] = loaded.seq
            except StoreUnavailable as exc:
                # End the stream; the browser's reconnect is the retry, after RETRY_MS.
                log.warning("timeline stream for %s: %s", call_id, exc.message)
                yield event("unavailable", {"detail": "the store is unavailable; reconnecting"})
                return
            if stored:
                yield "".join(event("entry", timeline.expand(e, plans), since + i) for i, e in enumerate(stored))
                since += len(stored)
                last_write = clock()
            elif clock() - last_write >= HEARTBEAT_SECONDS:
                yield ": keep-alive\n\n"
                last_write = clock()
            await asyncio.sleep(POLL_SECONDS)
        yield event("bye", {"next": since})
    finally:
        _open -= 1
