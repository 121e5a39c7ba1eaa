"""The plain data callcue reasons about: a sequence plan, and the outcome of one play.

Plans are validated here, field by field, so that a bad request names the field that is wrong.
Everything is JSON-shaped (``to_json``/``from_json``) because it is stored in Redis as JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from service.errors import InvalidRequest

MAX_PROMPTS = 100
MAX_REPEAT = 100
MAX_PAUSE_MS = 600_000
MAX_ATTEMPTS = 20
MAX_DEADLINE_SECONDS = 86_400


class OpStatus(StrEnum):
    NOT_STARTED = "notStarted"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMED_OUT = "timedOut"

    @property
    def terminal(self) -> bool:
        return self not in (OpStatus.NOT_STARTED, OpStatus.RUNNING)


class SeqStatus(StrEnum):
    QUEUED = "queued"  # waiting for the call's current sequence (mode "enqueue")
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMED_OUT = "timedOut"

    @property
    def terminal(self) -> bool:
        return self not in (SeqStatus.QUEUED, SeqStatus.RUNNING)


class OutcomeKind(StrEnum):
    """What happened to one play, whichever way callcue learnt it."""

    STARTED = "started"  # GA PlayStarted: playback began, nothing to decide
    COMPLETED = "completed"
    FAILED = "failed"  # ACS result codes, or the HTTP answer to the play request
    CANCELED = "canceled"
    TIMED_OUT = "timedOut"  # the watchdog: no terminal event in time
    DISCONNECTED = "disconnected"  # the call is gone (CallDisconnected, or 404 from ACS)


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    code: int | None = None  # ACS resultInfo code, e.g. 400
    subcode: int | None = None  # ACS subcode, e.g. 8536
    message: str = ""
    http_status: int | None = None  # set when the outcome is the HTTP answer to a play request
    retry_after: float | None = None  # seconds, from a Retry-After header

    def to_json(self) -> dict[str, Any]:
        # Built by hand: dataclasses.asdict deep-copies, and this runs for every callback.
        out: dict[str, Any] = {"kind": str(self.kind)}
        for key in ("code", "subcode", "message", "http_status", "retry_after"):
            value = getattr(self, key)
            if value is not None and value != "":
                out[key] = value
        return out


def _fail(field_path: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field_path}: {message}", field=field_path)


def _int(data: dict[str, Any], key: str, path: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    # JSON has one number type: 3.0 is the integer 3 (as JSON Schema says). A JSON true is not.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{path}.{key}" if path else key, "must be an integer")
    if not low <= value <= high:
        raise _fail(f"{path}.{key}" if path else key, f"must be between {low} and {high}")
    return value


def _check_keys(data: dict[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise _fail(where, "is not a known field")


# ACS ids are GUIDs or base64-ish strings; anything else in a path is a mistake, or worse.
CALL_ID_PATTERN = r"[A-Za-z0-9._:~+=@-]{1,256}"
_HOST = re.compile(r"[a-z0-9.-]+|[0-9a-f:.]+")  # a DNS name (IDNA-encoded), IPv4, or IPv6


def check_audio_uri(uri: str, path: str, allowed_hosts: tuple[str, ...] = ()) -> None:
    # ACS must fetch it: printable ASCII only (non-ASCII must arrive percent- or IDNA-encoded).
    if not uri.isascii() or not uri.isprintable() or " " in uri or len(uri) > 2048:
        raise _fail(path, "must be an absolute http(s) URL of printable ASCII, at most 2048 characters")
    parts = urlsplit(uri)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise _fail(path, "has a port that is not a number") from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(host):
        raise _fail(path, "must be an absolute http(s) URL")
    if allowed_hosts and host not in allowed_hosts:
        raise _fail(path, f"host {host!r} is not in CALLCUE_AUDIO_HOSTS")


@dataclass(frozen=True)
class Prompt:
    audio_file_uri: str
    audio_file_id: str | None = None
    repeat: int = 1
    loop: bool = False
    pause_after_ms: int = 0

    @classmethod
    def from_json(cls, data: Any, path: str, allowed_hosts: tuple[str, ...] = ()) -> Prompt:
        if not isinstance(data, dict):
            raise _fail(path, "must be an object")
        _check_keys(data, {"audioFileUri", "audioFileId", "repeat", "loop", "pauseAfterMs"}, path)
        uri = data.get("audioFileUri")
        if not isinstance(uri, str) or not uri:
            raise _fail(f"{path}.audioFileUri", "is required and must be a string")
        check_audio_uri(uri, f"{path}.audioFileUri", allowed_hosts)
        file_id = data.get("audioFileId")
        if file_id is not None and (not isinstance(file_id, str) or not 0 < len(file_id) <= 256):
            raise _fail(f"{path}.audioFileId", "must be a string of 1 to 256 characters")
        loop = data.get("loop", False)
        if not isinstance(loop, bool):
            raise _fail(f"{path}.loop", "must be true or false")
        repeat = _int(data, "repeat", path, 1, 1, MAX_REPEAT)
        if loop and "repeat" in data and repeat != 1:
            raise _fail(f"{path}.repeat", "cannot be combined with loop (a looped prompt plays until canceled)")
        return cls(
            audio_file_uri=uri,
            audio_file_id=file_id,
            repeat=repeat,
            loop=loop,
            pause_after_ms=_int(data, "pauseAfterMs", path, 0, 0, MAX_PAUSE_MS),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"audioFileUri": self.audio_file_uri, "repeat": self.repeat}
        if self.audio_file_id is not None:
            out["audioFileId"] = self.audio_file_id
        if self.loop:
            out["loop"] = True
        if self.pause_after_ms:
            out["pauseAfterMs"] = self.pause_after_ms
        return out


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    initial_delay_ms: int = 500
    max_delay_ms: int = 10_000

    @classmethod
    def from_json(cls, data: Any) -> RetryPolicy:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise _fail("retry", "must be an object")
        _check_keys(data, {"maxAttempts", "initialDelayMs", "maxDelayMs"}, "retry")
        policy = cls(
            max_attempts=_int(data, "maxAttempts", "retry", cls.max_attempts, 1, MAX_ATTEMPTS),
            initial_delay_ms=_int(data, "initialDelayMs", "retry", cls.initial_delay_ms, 0, 3_600_000),
            max_delay_ms=_int(data, "maxDelayMs", "retry", cls.max_delay_ms, 0, 3_600_000),
        )
        # maxDelayMs caps every delay, the first one included: a cap below initialDelayMs is
        # well defined (every delay is the cap), so it is not an error.
        return policy

    def to_json(self) -> dict[str, Any]:
        return {
            "maxAttempts": self.max_attempts,
            "initialDelayMs": self.initial_delay_ms,
            "maxDelayMs": self.max_delay_ms,
        }


@dataclass(frozen=True)
class Plan:
    prompts: tuple[Prompt, ...]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_failure: str = "stop"  # "stop" | "skip"
    deadline_seconds: int | None = None
    mode: str = "replace"  # "replace" | "enqueue"

    @classmethod
    def from_json(cls, data: Any, allowed_hosts: tuple[str, ...] = ()) -> Plan:
        if not isinstance(data, dict):
            raise InvalidRequest("the body must be a JSON object", field="")
        _check_keys(data, {"prompts", "retry", "onFailure", "deadlineSeconds", "mode"}, "")
        prompts = data.get("prompts")
        if not isinstance(prompts, list) or not prompts:
            raise _fail("prompts", "is required and must be a non-empty list")
        if len(prompts) > MAX_PROMPTS:
            raise _fail("prompts", f"may hold at most {MAX_PROMPTS} prompts")
        parsed = tuple(Prompt.from_json(p, f"prompts[{i}]", allowed_hosts) for i, p in enumerate(prompts))
        on_failure = data.get("onFailure", "stop")
        if on_failure not in ("stop", "skip"):
            raise _fail("onFailure", "must be 'stop' or 'skip'")
        mode = data.get("mode", "replace")
        if mode not in ("replace", "enqueue"):
            raise _fail("mode", "must be 'replace' or 'enqueue'")
        deadline = data.get("deadlineSeconds")
        if deadline is not None:
            deadline = _int(data, "deadlineSeconds", "", 0, 1, MAX_DEADLINE_SECONDS)
        return cls(
            prompts=parsed,
            retry=RetryPolicy.from_json(data.get("retry")),
            on_failure=on_failure,
            deadline_seconds=deadline,
            mode=mode,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompts": [p.to_json() for p in self.prompts],
            "retry": self.retry.to_json(),
            "onFailure": self.on_failure,
            "mode": self.mode,
        }
        if self.deadline_seconds is not None:
            out["deadlineSeconds"] = self.deadline_seconds
        return out
