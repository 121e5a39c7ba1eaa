"""Structured logs: one JSON object per line, with the call, sequence and operation in context.

``bind(...)`` puts ids into a context variable for the duration of a block (a callback event,
a job), and every line logged inside it carries them, whichever library logged it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Mapping
from types import MappingProxyType

# Immutable by convention: bind() sets a new dict, never changes the current one in place.
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "callcue_log_context", default=MappingProxyType({})
)


class bind:  # lower case: it reads as a function, ``with bind(callConnectionId=...):``
    """Ids carried by every line logged inside the block.

    A class rather than a generator-based context manager: it runs for every callback event.
    """

    __slots__ = ("_ids", "_token")
    _token: contextvars.Token[Mapping[str, str]]

    def __init__(self, **ids: str | None) -> None:
        self._ids = ids

    def __enter__(self) -> None:
        self._token = _context.set({**_context.get(), **{k: v for k, v in self._ids.items() if v}})

    def __exit__(self, *exc_info: object) -> None:
        _context.reset(self._token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_context.get(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One line per HTTP request is noise at INFO; callcue logs what it decided instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
