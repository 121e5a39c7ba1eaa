"""Result codes and the CloudEvents ACS posts to a callback URI, in both dialects.

Preview (2021 Server Calling): one ``Microsoft.Communication.PlayAudioResult`` per play, with
``data.resultInfo{code, subcode, message}``, ``operationContext`` and ``status``. A cancel is
reported as status ``completed`` with 400/8508, as the 2021 docs showed, so that a receiver that
trusts ``status`` alone is caught.

GA (Call Automation): ``PlayStarted``, ``PlayCompleted``, ``PlayFailed`` (+ ``failedPlaySourceIndex``),
``PlayCanceled`` and ``CallDisconnected``, with ``data.resultInformation{code, subCode, message}``
and the call's ids.

Either way the body of a callback POST is a JSON array of CloudEvents 1.0.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

EVENT_PREFIX = "Microsoft.Communication."
PLAY_AUDIO_RESULT = EVENT_PREFIX + "PlayAudioResult"
PLAY_STARTED = EVENT_PREFIX + "PlayStarted"
PLAY_COMPLETED = EVENT_PREFIX + "PlayCompleted"
PLAY_FAILED = EVENT_PREFIX + "PlayFailed"
PLAY_CANCELED = EVENT_PREFIX + "PlayCanceled"
CALL_DISCONNECTED = EVENT_PREFIX + "CallDisconnected"


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    subcode: int
    message: str


ACCEPTED = Result(202, 0, "Action is accepted.")
STARTED = Result(200, 0, "Action started.")
COMPLETED = Result(200, 0, "Action completed successfully.")
FORMAT_INVALID = Result(400, 8535, "Action failed, file format is invalid.")
DOWNLOAD_FAILED = Result(400, 8536, "Action failed, file could not be downloaded.")
CANCELED = Result(400, 8508, "Action failed, the operation was canceled.")
CANCEL_ACCEPTED = Result(200, 0, "Action completed successfully.")
DISCONNECTED = Result(200, 0, "The conversation has ended.")


@dataclass(frozen=True, slots=True)
class CallIds:
    """The identifiers a GA event repeats about its call."""

    call_connection_id: str
    server_call_id: str
    correlation_id: str


def _now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cloud_event(call_connection_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    subject = f"calling/callConnections/{call_connection_id}"
    return {
        "id": str(uuid.uuid4()),
        "source": subject,
        "type": event_type,
        "specversion": "1.0",
        "time": _now_rfc3339(),
        "datacontenttype": "application/json",
        "subject": subject,
        "data": data,
    }


def preview_status(result: Result) -> str:
    """The ``status`` of a PlayAudioResult: a cancel is ``completed`` on purpose (see module doc)."""
    return "completed" if result in (COMPLETED, CANCELED) else "failed"


def preview_play_result(call_connection_id: str, operation_context: str | None, result: Result) -> dict[str, Any]:
    data: dict[str, Any] = {
        "resultInfo": {"code": result.code, "subcode": result.subcode, "message": result.message},
        "operationContext": operation_context,
        "status": preview_status(result),
    }
    return cloud_event(call_connection_id, PLAY_AUDIO_RESULT, data)


def ga_event(
    ids: CallIds,
    event_type: str,
    operation_context: str | None,
    result: Result,
    failed_play_source_index: int | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "callConnectionId": ids.call_connection_id,
        "serverCallId": ids.server_call_id,
        "correlationId": ids.correlation_id,
        "operationContext": operation_context,
        "resultInformation": {"code": result.code, "subCode": result.subcode, "message": result.message},
    }
    if failed_play_source_index is not None:
        data["failedPlaySourceIndex"] = failed_play_source_index
    return cloud_event(ids.call_connection_id, event_type, data)


def ga_type_for(result: Result) -> str:
    """The GA event type that reports a play's terminal result."""
    if result == COMPLETED:
        return PLAY_COMPLETED
    if result == CANCELED:
        return PLAY_CANCELED
    return PLAY_FAILED
