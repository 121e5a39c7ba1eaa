"""Callback bodies from ACS, normalised to one outcome per element.

ACS posts a JSON array of CloudEvents; older and newer API versions disagree on almost every
name (``resultInfo``/``resultDetails``/``resultInformation``, ``subcode``/``subCode``, camelCase or
PascalCase, ``type`` or ``eventType``). Every element is parsed on its own, so one bad element is
refused alone and its siblings still count.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.v1.event import CloudEvent
from dateutil.parser import isoparse

from service.errors import InvalidRequest
from service.model import Outcome, OutcomeKind

PREFIX = "microsoft.communication."

_GA_KINDS = {
    "playstarted": OutcomeKind.STARTED,
    "playcompleted": OutcomeKind.COMPLETED,
    "playfailed": OutcomeKind.FAILED,
    "playcanceled": OutcomeKind.CANCELED,
    "calldisconnected": OutcomeKind.DISCONNECTED,
}
_NEEDS_RESULT = {"playcompleted", "playfailed", "playaudioresult"}
_CE_ATTRIBUTES = {"id", "source", "type", "specversion", "time", "subject", "datacontenttype", "dataschema"}


@dataclass(frozen=True)
class CallbackEvent:
    index: int
    event_id: str | None
    event_type: str  # as sent, e.g. "Microsoft.Communication.PlayAudioResult"
    operation_context: str | None
    call_id: str | None
    outcome: Outcome | None  # None: not a play outcome (recorded, nothing to decide)
    raw: dict[str, Any]

    @property
    def dedupe_key(self) -> str:
        # The content, not the CloudEvent id: a resend with a fresh id is still the same news.
        o = self.outcome
        detail = f"{o.kind}|{o.code}|{o.subcode}" if o is not None else (self.event_id or "")
        return f"{self.event_type.lower()}|{self.operation_context}|{detail}"


@dataclass(frozen=True)
class Refused:
    index: int
    error: str


class _Fields:
    """Case-insensitive access to a JSON object, because ACS has used both camelCase and PascalCase."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = {k.lower(): v for k, v in data.items()}

    def get(self, *names: str) -> Any:
        for name in names:
            if name in self._data:
                return self._data[name]
        return None


def _int(value: Any) -> int | None:
    # The 2021 error schema sends codes as strings ("400"); events send numbers.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _check_envelope(element: dict[str, Any]) -> None:
    """Validate a CloudEvents 1.0 envelope with the cloudevents package (raises on a bad one)."""
    # ACS adds no extensions we rely on; an odd one must not cost the whole event.
    attributes = {k: v for k, v in element.items() if k in _CE_ATTRIBUTES}
    if isinstance(attributes.get("time"), str):
        attributes["time"] = _timestamp(attributes["time"])
    CloudEvent(attributes, element.get("data"))


def _timestamp(text: str) -> datetime:
    # The standard library reads the RFC 3339 times ACS sends in a fraction of dateutil's time;
    # dateutil still gets the last word on anything else ISO 8601 allows.
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        parsed: datetime = isoparse(text)
        return parsed


def _outcome(kind_name: str, result: _Fields | None, data: _Fields) -> Outcome | None:
    code = _int(result.get("code")) if result else None
    subcode = _int(result.get("subcode")) if result else None
    message = result.get("message") if result else None
    message = message if isinstance(message, str) else ""
    if kind_name == "playaudioresult":
        status = str(data.get("status") or "").lower()
        if subcode == 8508:
            kind = OutcomeKind.CANCELED
        elif status in ("notstarted", "running"):
            kind = OutcomeKind.STARTED
        elif code is not None and 200 <= code < 300 and subcode == 0:
            kind = OutcomeKind.COMPLETED
        else:
            # "completed" with a failure code is a failure: success comes from code/subcode only.
            kind = OutcomeKind.FAILED
    else:
        kind = _GA_KINDS[kind_name]
        if kind is OutcomeKind.COMPLETED and not (code is not None and 200 <= code < 300 and subcode == 0):
            kind = OutcomeKind.FAILED
        if subcode == 8508:
            kind = OutcomeKind.CANCELED
    return Outcome(kind=kind, code=code, subcode=subcode, message=message)


def parse_element(index: int, element: Any) -> CallbackEvent | Refused:
    if not isinstance(element, dict):
        return Refused(index, "an event must be a JSON object")
    envelope = _Fields(element)
    event_type = envelope.get("type", "eventtype")
    if not isinstance(event_type, str) or not event_type:
        return Refused(index, "the event has no type")
    if "specversion" in element:
        try:
            _check_envelope(element)
        except (BaseCloudEventException, ValueError, TypeError, OverflowError) as exc:
            return Refused(index, f"not a valid CloudEvent: {exc}")
    raw_data = envelope.get("data")
    if raw_data is None:
        raw_data = {}
    if not isinstance(raw_data, dict):
        return Refused(index, "the event's data must be a JSON object")
    data = _Fields(raw_data)
    ctx = data.get("operationcontext")
    if ctx is not None and not isinstance(ctx, str):
        return Refused(index, "operationContext must be a string")
    call_id = data.get("callconnectionid", "calllegid")
    call_id = call_id if isinstance(call_id, str) and call_id else None
    event_id = envelope.get("id")
    event_id = str(event_id) if event_id is not None else None
    name = event_type.lower().removeprefix(PREFIX)
    outcome: Outcome | None = None
    if name in _GA_KINDS or name == "playaudioresult":
        result_raw = data.get("resultinformation", "resultinfo", "resultdetails")
        if result_raw is not None and not isinstance(result_raw, dict):
            return Refused(index, "resultInformation must be a JSON object")
        result = _Fields(result_raw) if result_raw is not None else None
        if name in _NEEDS_RESULT:
            if result is None or _int(result.get("code")) is None or _int(result.get("subcode")) is None:
                return Refused(index, f"{event_type} needs a result with integer code and subcode")
        if name != "calldisconnected" and not ctx:
            return Refused(index, f"{event_type} needs an operationContext")
        outcome = _outcome(name, result, data)
    return CallbackEvent(index, event_id, event_type, ctx, call_id, outcome, element)


def parse_request(headers: Mapping[str, str], body: bytes) -> list[CallbackEvent | Refused]:
    """The events of a callback: binary mode (one event, attributes in ``ce-`` headers), else structured."""
    if "ce-specversion" not in headers:
        return parse_body(body)
    # Header names are case-insensitive; CloudEvents attribute names are lower case.
    element: dict[str, Any] = {k.lower()[3:]: v for k, v in headers.items() if k.lower().startswith("ce-")}
    try:
        element["data"] = json.loads(body) if body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"the binary-mode event's body is not JSON: {exc}", field="body") from None
    return [parse_element(0, element)]


def parse_body(body: bytes) -> list[CallbackEvent | Refused]:
    """The elements of a callback body: a JSON array (the norm) or one object (accepted too)."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not JSON: {exc}", field="body") from None
    if isinstance(decoded, dict):
        decoded = [decoded]
    if not isinstance(decoded, list):
        raise InvalidRequest("the body must be a JSON array of events, or one event object", field="body")
    if not decoded:
        raise InvalidRequest("the body holds no events", field="body")
    return [parse_element(i, element) for i, element in enumerate(decoded)]


def shown_record(record: dict[str, Any]) -> dict[str, Any]:
    """An operation's stored history record as the status API shows it, with its outcome: a stored
    callback record holds the raw event alone, and parsing it again gives the same outcome."""
    event = record.get("event")
    if "outcome" in record or record.get("duplicate") or not isinstance(event, dict):
        return record
    parsed = parse_element(0, event)
    if isinstance(parsed, CallbackEvent) and parsed.outcome is not None:
        return {"at": record.get("at"), "outcome": parsed.outcome.to_json(), **record}
    return record
