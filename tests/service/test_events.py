"""Every callback shape ACS has used (acs-protocol.md §1) normalises to the right outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.errors import InvalidRequest
from service.events import CallbackEvent, Refused, parse_body, parse_request
from service.model import OutcomeKind

K = OutcomeKind
CTX = "sq_0123456789abcdef0123.0"
CALL = "401f7000-1111-2222-3333-444455556666"


def ce(event_type: str, data: Any, **envelope: Any) -> dict[str, Any]:
    return {
        "id": "e1",
        "source": f"calling/callConnections/{CALL}",
        "type": event_type,
        "specversion": "1.0",
        "time": "2024-10-01T08:15:00.000Z",
        "datacontenttype": "application/json",
        "data": data,
        **envelope,
    }


def ga(name: str, code: int | None = None, sub: int | None = None, **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "callConnectionId": CALL,
        "serverCallId": "c2VydmVy",
        "correlationId": "corr",
        "operationContext": CTX,
        **data,
    }
    if code is not None:
        body["resultInformation"] = {"code": code, "subCode": sub, "message": "m"}
    return ce(f"Microsoft.Communication.{name}", body)


def preview(
    status: str, code: Any, sub: Any, result_key: str = "resultInfo", sub_key: str = "subcode"
) -> dict[str, Any]:
    return ce(
        "Microsoft.Communication.PlayAudioResult",
        {result_key: {"code": code, sub_key: sub, "message": "m"}, "operationContext": CTX, "status": status},
    )


LEGACY = {  # the 2021 private-preview envelope: Event Grid-like, PascalCase data
    "id": None,
    "topic": "t",
    "subject": "callLeg/x/playAudio",
    "eventType": "Microsoft.Communication.PlayAudioResult",
    "eventTime": "2021-04-16T10:00:00Z",
    "metadataVersion": "1",
    "dataVersion": "1.0",
    "data": {
        "ResultInfo": {"Code": 400, "Subcode": 8508, "Message": "canceled"},
        "OperationContext": CTX,
        "Status": "Completed",
        "CallLegId": "leg-1",
    },
}


@pytest.mark.parametrize(
    ("element", "kind", "code", "subcode"),
    [
        (preview("completed", 200, 0), K.COMPLETED, 200, 0),
        (preview("Completed", 200, 0), K.COMPLETED, 200, 0),
        (preview("failed", 400, 8536), K.FAILED, 400, 8536),
        (preview("failed", "400", "8535"), K.FAILED, 400, 8535),  # codes as strings
        (preview("completed", 400, 8508), K.CANCELED, 400, 8508),  # "completed" is not success
        (preview("completed", 500, 9999), K.FAILED, 500, 9999),
        (preview("running", 202, 0), K.STARTED, 202, 0),
        (preview("failed", 400, 8536, result_key="resultDetails"), K.FAILED, 400, 8536),  # 2021-11-15-preview
        (preview("completed", 200, 0, result_key="resultInformation", sub_key="subCode"), K.COMPLETED, 200, 0),
        (LEGACY, K.CANCELED, 400, 8508),
        (ga("PlayStarted"), K.STARTED, None, None),
        (ga("PlayStarted", 200, 0), K.STARTED, 200, 0),
        (ga("PlayCompleted", 200, 0), K.COMPLETED, 200, 0),
        (ga("PlayFailed", 400, 8535, failedPlaySourceIndex=0), K.FAILED, 400, 8535),
        (ga("PlayFailed", 400, 8536), K.FAILED, 400, 8536),
        (ga("PlayCanceled", 400, 8508), K.CANCELED, 400, 8508),
        (ga("PlayCanceled"), K.CANCELED, None, None),  # 2022-04-07-preview sent no resultInformation
        (ga("CallDisconnected"), K.DISCONNECTED, None, None),
        (
            ce(
                "Microsoft.Communication.PlayCompleted",  # a 2022 docs example: resultInfo with subCode
                {
                    "operationContext": CTX,
                    "resultInfo": {"code": 200, "subCode": 0},
                    "type": "playCompleted",
                    "eventSource": "x",
                    "sipDetails": {"code": 0},
                },
            ),
            K.COMPLETED,
            200,
            0,
        ),
    ],
)
def test_shapes_normalise(element: dict[str, Any], kind: OutcomeKind, code: int | None, subcode: int | None) -> None:
    [event] = parse_body(json.dumps([element]).encode())
    assert isinstance(event, CallbackEvent) and event.outcome is not None
    assert (event.outcome.kind, event.outcome.code, event.outcome.subcode) == (kind, code, subcode)
    assert event.operation_context == (
        None if kind is K.DISCONNECTED and "operationContext" not in element["data"] else CTX
    )


def test_call_ids_come_from_ga_and_legacy_fields() -> None:
    events = parse_body(json.dumps([ga("PlayCompleted", 200, 0), LEGACY]).encode())
    assert [e.call_id for e in events if isinstance(e, CallbackEvent)] == [CALL, "leg-1"]


def test_a_single_object_is_a_batch_of_one() -> None:
    [event] = parse_body(json.dumps(preview("completed", 200, 0)).encode())
    assert isinstance(event, CallbackEvent) and event.outcome is not None and event.outcome.kind is K.COMPLETED


def test_unknown_types_and_extra_fields_are_accepted_without_an_outcome() -> None:
    unknown = ce("Microsoft.Communication.RecognizeCompleted", {"operationContext": CTX, "new": {"x": 1}})
    [event] = parse_body(json.dumps([unknown]).encode())
    assert isinstance(event, CallbackEvent) and event.outcome is None


@pytest.mark.parametrize(
    ("element", "why"),
    [
        ("text", "JSON object"),
        ({"data": {}}, "no type"),
        (ce("Microsoft.Communication.PlayCompleted", {"operationContext": CTX}), "integer code and subcode"),
        (
            ce("Microsoft.Communication.PlayFailed", {"operationContext": CTX, "resultInformation": {"code": 400}}),
            "integer code and subcode",
        ),
        (
            ce("Microsoft.Communication.PlayCompleted", {"resultInformation": {"code": 200, "subCode": 0}}),
            "operationContext",
        ),
        (ce("Microsoft.Communication.PlayCompleted", [1, 2]), "data must be a JSON object"),
        (dict(ce("Microsoft.Communication.PlayCompleted", {}), specversion="0.1"), "not a valid CloudEvent"),
        (dict(ce("Microsoft.Communication.PlayCompleted", {}), time="yesterday"), "not a valid CloudEvent"),
    ],
)
def test_bad_elements_are_refused_with_a_reason(element: Any, why: str) -> None:
    [refused] = parse_body(json.dumps([element]).encode())
    assert isinstance(refused, Refused) and why in refused.error


@pytest.mark.parametrize("body", [b"", b"nope", b"42", b"[]", b'"x"'])
def test_bodies_that_hold_no_events(body: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_body(body)


def test_binary_mode_event() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "b1",
        "ce-type": "Microsoft.Communication.PlayCompleted",
        "ce-source": f"calling/callConnections/{CALL}",
        "Content-Type": "application/json",
    }
    body = json.dumps({"operationContext": CTX, "resultInformation": {"code": 200, "subCode": 0}}).encode()
    [event] = parse_request(headers, body)
    assert isinstance(event, CallbackEvent) and event.event_id == "b1"
    assert event.outcome is not None and event.outcome.kind is K.COMPLETED


def test_dedupe_key_ignores_the_event_id() -> None:
    a, b = (parse_body(json.dumps([dict(preview("completed", 200, 0), id=i)]).encode())[0] for i in ("x", "y"))
    assert isinstance(a, CallbackEvent) and isinstance(b, CallbackEvent) and a.dedupe_key == b.dedupe_key
