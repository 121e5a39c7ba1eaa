"""Fault injection rules, added and removed over HTTP while the emulator runs.

A rule is ``{"kind": ..., "callConnectionId"?: str, "times"?: int | null, "probability"?: float,
...params}``. ``callConnectionId`` omitted matches every call; ``times`` defaults to 1 and ``null``
means always; ``probability`` makes a matching candidate fire only that often (drawn from the
emulator's seeded random generator, so a soak test is repeatable). Callback rules may also narrow
on ``eventType`` (``PlayStarted`` or ``Microsoft.Communication.PlayStarted``) and any rule on
``operationContext``. Unknown fields are refused so that a typo does not silently disable a test.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

JWT_KINDS = frozenset({"jwtExpired", "jwtWrongAudience", "jwtWrongIssuer", "jwtUnknownKid", "jwtBadSignature"})
CALLBACK_KINDS = frozenset({"duplicate", "drop", "delay", "reorder"}) | JWT_KINDS
REQUEST_KINDS = frozenset({"earlyCallback", "httpStatus", "slowResponse"})
ALL_KINDS = CALLBACK_KINDS | REQUEST_KINDS

_COMMON_FIELDS = frozenset({"kind", "callConnectionId", "times", "probability", "operationContext"})
_KIND_FIELDS: dict[str, frozenset[str]] = {
    "duplicate": frozenset({"copies"}),
    "delay": frozenset({"delayMs"}),
    "reorder": frozenset({"holdMs"}),
    "slowResponse": frozenset({"delayMs"}),
    "httpStatus": frozenset({"status", "retryAfter"}),
    "earlyCallback": frozenset({"maxWaitMs"}),
}
_EVENT_PREFIX = "microsoft.communication."


class FaultSpecError(ValueError):
    """A rule that cannot be understood; the message is returned to the client."""


def _short_event_type(event_type: str) -> str:
    lowered = event_type.lower()
    return lowered.removeprefix(_EVENT_PREFIX)


@dataclass(slots=True)
class FaultRule:
    id: str
    kind: str
    call_connection_id: str | None = None
    remaining: int | None = 1
    probability: float | None = None
    event_type: str | None = None
    operation_context: str | None = None
    copies: int = 2
    delay_ms: int = 0
    hold_ms: int = 5000
    status: int = 503
    retry_after: float | None = None
    max_wait_ms: int = 30_000
    matched: int = 0

    def applies_to(self, call_connection_id: str, event_type: str | None, operation_context: str | None) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.call_connection_id is not None and self.call_connection_id != call_connection_id:
            return False
        if self.operation_context is not None and self.operation_context != operation_context:
            return False
        if self.event_type is not None:
            return event_type is not None and _short_event_type(event_type) == _short_event_type(self.event_type)
        return True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "callConnectionId": self.call_connection_id,
            "remaining": self.remaining,
            "probability": self.probability,
            "matched": self.matched,
        }
        if self.event_type is not None:
            out["eventType"] = self.event_type
        if self.operation_context is not None:
            out["operationContext"] = self.operation_context
        params: dict[str, dict[str, Any]] = {
            "duplicate": {"copies": self.copies},
            "delay": {"delayMs": self.delay_ms},
            "slowResponse": {"delayMs": self.delay_ms},
            "reorder": {"holdMs": self.hold_ms},
            "httpStatus": {"status": self.status, "retryAfter": self.retry_after},
            "earlyCallback": {"maxWaitMs": self.max_wait_ms},
        }
        out.update(params.get(self.kind, {}))
        return out


def _int_field(payload: dict[str, Any], name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    value = payload.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FaultSpecError(f"{name} must be an integer >= {minimum}")
    if maximum is not None and value > maximum:
        raise FaultSpecError(f"{name} must be <= {maximum}")
    return value


def _optional_str(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is not None and not isinstance(value, str):
        raise FaultSpecError(f"{name} must be a string")
    return value


def parse_rule(payload: object) -> FaultRule:
    if not isinstance(payload, dict):
        raise FaultSpecError("a fault rule is a JSON object")
    kind = payload.get("kind")
    if kind not in ALL_KINDS:
        raise FaultSpecError(f"kind must be one of {sorted(ALL_KINDS)}")
    allowed = _COMMON_FIELDS | _KIND_FIELDS.get(kind, frozenset())
    if kind in CALLBACK_KINDS:
        allowed |= {"eventType"}
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise FaultSpecError(f"unknown field(s) for kind {kind}: {', '.join(unknown)}")

    rule = FaultRule(id=uuid.uuid4().hex[:12], kind=kind)
    rule.call_connection_id = _optional_str(payload, "callConnectionId")
    rule.event_type = _optional_str(payload, "eventType")
    rule.operation_context = _optional_str(payload, "operationContext")
    always = "times" in payload and payload["times"] is None
    rule.remaining = None if always else _int_field(payload, "times", 1, minimum=1)
    probability = payload.get("probability")
    if probability is not None:
        if isinstance(probability, bool) or not isinstance(probability, int | float) or not 0 <= probability <= 1:
            raise FaultSpecError("probability must be a number between 0 and 1")
        rule.probability = float(probability)

    if kind == "duplicate":
        rule.copies = _int_field(payload, "copies", 2, minimum=2, maximum=100)
    elif kind in ("delay", "slowResponse"):
        if "delayMs" not in payload:
            raise FaultSpecError(f"{kind} needs delayMs")
        rule.delay_ms = _int_field(payload, "delayMs", 0, minimum=0, maximum=600_000)
    elif kind == "reorder":
        rule.hold_ms = _int_field(payload, "holdMs", 5000, minimum=0, maximum=600_000)
    elif kind == "earlyCallback":
        rule.max_wait_ms = _int_field(payload, "maxWaitMs", 30_000, minimum=0, maximum=600_000)
    elif kind == "httpStatus":
        if "status" not in payload:
            raise FaultSpecError("httpStatus needs status (e.g. 429, 500, 503)")
        rule.status = _int_field(payload, "status", 503, minimum=400, maximum=599)
        retry_after = payload.get("retryAfter")
        if retry_after is not None:
            if isinstance(retry_after, bool) or not isinstance(retry_after, int | float) or retry_after < 0:
                raise FaultSpecError("retryAfter must be a number of seconds >= 0")
            rule.retry_after = float(retry_after)
    return rule


class FaultBook:
    """The active rules. Rules that ran out stay listed (with their ``matched`` count) until cleared."""

    def __init__(self, seed: int | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)

    def add(self, payload: object) -> FaultRule:
        rule = parse_rule(payload)
        self._rules.append(rule)
        return rule

    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def remove(self, rule_id: str) -> bool:
        before = len(self._rules)
        self._rules = [rule for rule in self._rules if rule.id != rule_id]
        return len(self._rules) != before

    def clear(self) -> None:
        self._rules.clear()

    def take(
        self,
        kinds: Collection[str],
        call_connection_id: str,
        *,
        event_type: str | None = None,
        operation_context: str | None = None,
    ) -> list[FaultRule]:
        """The rules of ``kinds`` that fire for this candidate; each one spends one of its ``times``."""
        fired: list[FaultRule] = []
        for rule in self._rules:
            if rule.kind not in kinds or not rule.applies_to(call_connection_id, event_type, operation_context):
                continue
            if rule.probability is not None and self._rng.random() >= rule.probability:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            rule.matched += 1
            fired.append(rule)
        return fired
