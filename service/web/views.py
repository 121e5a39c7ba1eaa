"""How stored documents look in the status API (camelCase, times as unix seconds)."""

from __future__ import annotations

from typing import Any

from service.documents import CallDoc, OpRecord, SequenceDoc, operation_context


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def operation(seq: SequenceDoc, op: OpRecord) -> dict[str, Any]:
    result = op.result or {}
    result_info = None
    if "code" in result or "subcode" in result:
        result_info = _drop_none(
            {"code": result.get("code"), "subcode": result.get("subcode"), "message": result.get("message")}
        )
    return _drop_none(
        {
            "operationContext": operation_context(seq.id, op.index),
            "sequenceId": seq.id,
            "step": op.step,
            "repeat": op.repeat,
            "attempt": op.attempt,
            "generation": op.generation,
            "status": str(op.status),
            "resultInfo": result_info,
            "httpStatus": result.get("http_status"),
            "reason": op.reason,
            "acsOperationId": op.acs_operation_id,
            "scheduledAt": op.created_at,
            "dueAt": op.due_at,
            "requestedAt": op.requested_at,
            "acceptedAt": op.accepted_at,
            "startedAt": op.started_at,
            "endedAt": op.ended_at,
            "expectedSeconds": op.expected_seconds,
        }
    )


def sequence(seq: SequenceDoc) -> dict[str, Any]:
    steps = []
    for i, prompt in enumerate(seq.plan.prompts):
        ops = [operation(seq, op) for op in seq.ops if op.step == i]
        steps.append(
            {
                "step": i,
                "audioFileUri": prompt.audio_file_uri,
                "repeat": prompt.repeat,
                "loop": prompt.loop,
                "pauseAfterMs": prompt.pause_after_ms,
                "status": ops[-1]["status"] if ops else "pending",
                "plays": sum(1 for op in ops if op["status"] == "completed"),
                "operations": ops,
            }
        )
    current = seq.op(seq.current) if seq.current is not None else None
    return _drop_none(
        {
            "sequenceId": seq.id,
            "callConnectionId": seq.call_id,
            "status": str(seq.status),
            "reason": seq.reason,
            "generation": seq.generation,
            "createdAt": seq.created_at,
            "updatedAt": seq.updated_at,
            "endedAt": seq.ended_at,
            "deadlineAt": seq.deadline_at,
            "current": operation(seq, current) if current is not None else None,
            "plan": seq.plan.to_json(),
            "steps": steps,
            "links": {
                "self": f"/v1/sequences/{seq.id}",
                "call": f"/v1/calls/{seq.call_id}",
                "cancel": f"/v1/sequences/{seq.id}/cancel",
            },
        }
    )


def sequence_summary(seq: SequenceDoc) -> dict[str, Any]:
    return _drop_none(
        {
            "sequenceId": seq.id,
            "status": str(seq.status),
            "reason": seq.reason,
            "createdAt": seq.created_at,
            "endedAt": seq.ended_at,
            "links": {"self": f"/v1/sequences/{seq.id}"},
        }
    )


def call(doc: CallDoc, sequences: list[SequenceDoc], timeline: list[dict[str, Any]], since: int) -> dict[str, Any]:
    return {
        "callConnectionId": doc.id,
        "gone": doc.gone,
        "activeSequenceId": doc.active,
        "queuedSequenceIds": doc.queue,
        "sequences": [sequence_summary(s) for s in sequences],
        "timeline": timeline,
        "timelineNext": since + len(timeline),
    }
