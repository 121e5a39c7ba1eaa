"""A reader of server-sent events for the tests: fields per the HTML standard, enough for callcue's streams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Event:
    name: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


async def events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    name, event_id = "message", None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield Event(name, "\n".join(data), event_id)
            name, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue  # a comment: the keep-alive
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
