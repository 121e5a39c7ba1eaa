"""Per-call timeline: what arrived and what was sent, with wall-clock times.

A benchmark reads it to measure the silence between prompts as a caller would hear it (from one
play's end to the next play's start), and a test reads it to see what the emulator did.

Entry kinds: ``playRequest`` (a play request arrived and was accepted; ``at`` is its arrival),
``playRejected`` (refused by an injected ``httpStatus`` fault), ``playStarted`` / ``playEnded`` (audio
began / stopped in the call), ``callback`` (one delivery attempt; ``at`` is when it was sent, with the
answer's ``httpStatus`` or an ``error``), ``callbackDropped`` (a ``drop`` fault swallowed it),
``cancel`` and ``hangup``.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def redact_uri(uri: str | None) -> str | None:
    """Callback URIs carry secrets in their query (ACS samples use ``?secret=``): keep only the path."""
    if uri is None:
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable>"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "redacted" if parts.query else "", ""))


# A soak test may run one call for hours; only its latest entries are kept.
MAX_ENTRIES_PER_CALL = 5000


class Timeline:
    def __init__(self) -> None:
        self._entries: dict[str, deque[dict[str, Any]]] = {}

    def record(self, call_connection_id: str, kind: str, *, at: float | None = None, **fields: Any) -> None:
        entry: dict[str, Any] = {"at": time.time() if at is None else at, "kind": kind}
        entry.update({name: value for name, value in fields.items() if value is not None})
        if "callbackUri" in entry:
            entry["callbackUri"] = redact_uri(entry["callbackUri"])
        entries = self._entries.get(call_connection_id)
        if entries is None:
            entries = self._entries[call_connection_id] = deque(maxlen=MAX_ENTRIES_PER_CALL)
        entries.append(entry)

    def entries(self, call_connection_id: str) -> list[dict[str, Any]] | None:
        found = self._entries.get(call_connection_id)
        if found is None:
            return None
        # A callback entry is appended when its answer arrives but stamped with its send time.
        return sorted(found, key=lambda entry: float(entry["at"]))

    def reset(self) -> None:
        self._entries.clear()
