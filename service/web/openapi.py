"""GET /openapi.json: the HTTP surface, with schemas built from the validator's own limits.

The plan schema takes its bounds and names from service.model, and a test checks that the
schema and ``Plan.from_json`` agree (on the examples here and on generated bodies), so the two
cannot drift apart silently.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.model import (
    CALL_ID_PATTERN,
    MAX_ATTEMPTS,
    MAX_DEADLINE_SECONDS,
    MAX_PAUSE_MS,
    MAX_PROMPTS,
    MAX_REPEAT,
    OpStatus,
    SeqStatus,
)
from service.policy import OUTCOME_TABLE

_URI = {"type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+", "minLength": 1}

PROMPT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["audioFileUri"],
    # A looped prompt plays until canceled: a repeat count would mean nothing.
    "if": {"properties": {"loop": {"const": True}}, "required": ["loop"]},
    "then": {"properties": {"repeat": {"const": 1}}},
    "properties": {
        "audioFileUri": {**_URI, "description": "WAV, mono, 16-bit PCM, 16 kHz, reachable by ACS over http(s)"},
        "audioFileId": {"type": ["string", "null"], "minLength": 1, "maxLength": 256, "description": "ACS cache id"},
        "repeat": {"type": "integer", "minimum": 1, "maximum": MAX_REPEAT, "default": 1},
        "loop": {"type": "boolean", "default": False, "description": "play until the sequence is canceled"},
        "pauseAfterMs": {"type": "integer", "minimum": 0, "maximum": MAX_PAUSE_MS, "default": 0},
    },
}

PLAN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompts"],
    "properties": {
        "prompts": {"type": "array", "minItems": 1, "maxItems": MAX_PROMPTS, "items": PROMPT},
        "retry": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "maxAttempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS, "default": 3},
                "initialDelayMs": {"type": "integer", "minimum": 0, "maximum": 3_600_000, "default": 500},
                "maxDelayMs": {"type": "integer", "minimum": 0, "maximum": 3_600_000, "default": 10_000},
            },
        },
        "onFailure": {"enum": ["stop", "skip"], "default": "stop"},
        "deadlineSeconds": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_DEADLINE_SECONDS},
        "mode": {"enum": ["replace", "enqueue"], "default": "replace"},
    },
}

PLAN_EXAMPLES: dict[str, dict[str, Any]] = {
    "ivr": {
        "summary": "welcome, hold music three times with pauses, goodbye",
        "value": {
            "prompts": [
                {"audioFileUri": "https://audio.example/welcome.wav", "audioFileId": "welcome-v2"},
                {"audioFileUri": "https://audio.example/hold.wav", "repeat": 3, "pauseAfterMs": 500},
                {"audioFileUri": "https://audio.example/goodbye.wav"},
            ],
            "retry": {"maxAttempts": 3, "initialDelayMs": 500, "maxDelayMs": 5000},
            "onFailure": "skip",
            "deadlineSeconds": 300,
        },
    },
    "hold": {
        "summary": "hold music until canceled, after what the call is playing",
        "value": {"prompts": [{"audioFileUri": "https://audio.example/hold.wav", "loop": True}], "mode": "enqueue"},
    },
}

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "stable machine code, e.g. invalid_request"},
        "detail": {"type": "string"},
        "field": {"type": "string", "description": "the field that is wrong, for invalid_request"},
    },
}

_TIMES = {"type": "number", "description": "unix seconds"}
RESULT_INFO = {
    "type": "object",
    "properties": {"code": {"type": "integer"}, "subcode": {"type": "integer"}, "message": {"type": "string"}},
}

OPERATION = {
    "type": "object",
    "required": ["operationContext", "sequenceId", "step", "repeat", "attempt", "status"],
    "properties": {
        "operationContext": {"type": "string"},
        "sequenceId": {"type": "string"},
        "step": {"type": "integer"},
        "repeat": {"type": "integer"},
        "attempt": {"type": "integer"},
        "generation": {"type": "integer"},
        "status": {"enum": [str(s) for s in OpStatus]},
        "resultInfo": RESULT_INFO,
        "httpStatus": {"type": "integer"},
        "reason": {"type": "string"},
        "acsOperationId": {"type": "string"},
        **{k: _TIMES for k in ("scheduledAt", "dueAt", "requestedAt", "acceptedAt", "startedAt", "endedAt")},
        "expectedSeconds": {"type": "number"},
        "events": {"type": "array", "items": {"type": "object"}},
    },
}

SEQUENCE = {
    "type": "object",
    "required": ["sequenceId", "callConnectionId", "status", "plan", "steps"],
    "properties": {
        "sequenceId": {"type": "string"},
        "callConnectionId": {"type": "string"},
        "status": {"enum": [str(s) for s in SeqStatus]},
        "reason": {"type": "string"},
        "generation": {"type": "integer"},
        **{k: _TIMES for k in ("createdAt", "updatedAt", "endedAt", "deadlineAt")},
        "current": OPERATION,
        "plan": PLAN,
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "step": {"type": "integer"},
                    "audioFileUri": {"type": "string"},
                    "status": {"type": "string"},
                    "plays": {"type": "integer"},
                    "operations": {"type": "array", "items": OPERATION},
                },
            },
        },
    },
}

ACCEPTED = {
    "type": "object",
    "required": ["sequenceId", "status", "statusUrl"],
    "properties": {
        "sequenceId": {"type": "string"},
        "callConnectionId": {"type": "string"},
        "status": {"type": "string"},
        "statusUrl": {"type": "string"},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*codes: int) -> dict[str, Any]:
    return {
        str(c): {"description": "problem details", "content": {"application/problem+json": {"schema": PROBLEM}}}
        for c in codes
    }


def _path(name: str, description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = f"^{pattern}$"
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


CALL = _path("callConnectionId", "the ACS call connection id", CALL_ID_PATTERN)
SEQ = _path("sequenceId", "as returned by POST .../sequences")


def document() -> dict[str, Any]:
    secured: list[dict[str, list[str]]] = [{"apiKey": []}]
    outcome_rows = "; ".join(f"{r.reason} → {r.category}" for r in OUTCOME_TABLE)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "callcue",
            "version": "1",
            "description": f"Prompt sequences for ACS calls. Outcome table: {outcome_rows}; any other failure → fatal.",
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Plan": PLAN,
                "Prompt": PROMPT,
                "Sequence": SEQUENCE,
                "Operation": OPERATION,
                "Problem": PROBLEM,
                "Accepted": ACCEPTED,
            },
        },
        "paths": {
            "/v1/calls/{callConnectionId}/sequences": {
                "post": {
                    "summary": "start a sequence of prompts on a call",
                    "security": secured,
                    "parameters": [CALL],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": PLAN, "examples": PLAN_EXAMPLES}},
                    },
                    "responses": {
                        "202": _json(ACCEPTED, "accepted; follow statusUrl"),
                        **_problems(400, 401, 403, 409, 413, 503),
                    },
                }
            },
            "/v1/sequences/{sequenceId}": {
                "get": {
                    "summary": "a sequence, each step with its operations",
                    "security": secured,
                    "parameters": [SEQ],
                    "responses": {"200": _json(SEQUENCE, "the sequence"), **_problems(401, 404, 503)},
                }
            },
            "/v1/sequences/{sequenceId}/cancel": {
                "post": {
                    "summary": "cancel: stop playing, end the sequence canceled",
                    "security": secured,
                    "parameters": [SEQ],
                    "responses": {"202": _json(ACCEPTED, "canceled"), **_problems(401, 403, 404, 409, 503)},
                }
            },
            "/v1/operations/{operationContext}": {
                "get": {
                    "summary": "one play request with its raw event history",
                    "security": secured,
                    "parameters": [_path("operationContext", "the operationContext callcue sent to ACS")],
                    "responses": {"200": _json(OPERATION, "the operation"), **_problems(401, 404, 503)},
                }
            },
            "/v1/calls/{callConnectionId}": {
                "get": {
                    "summary": "a call's sequences and timeline",
                    "security": secured,
                    "parameters": [
                        CALL,
                        {
                            "name": "since",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0},
                            "description": "timelineNext of an earlier answer",
                        },
                    ],
                    "responses": {"200": _json({"type": "object"}, "the call"), **_problems(400, 401, 404, 503)},
                }
            },
            "/v1/unmatched-events": {
                "get": {
                    "summary": "callbacks that matched no play",
                    "security": secured,
                    "responses": {"200": _json({"type": "object"}, "newest first"), **_problems(401, 503)},
                }
            },
            "/callbacks/acs": {
                "post": {
                    "summary": "the callbackUri ACS posts events to (secret in the query; GA: JWT bearer)",
                    "parameters": [{"name": "secret", "in": "query", "schema": {"type": "string"}}],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}]
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": _json({"type": "object"}, "per-element report"),
                        **_problems(400, 401, 413, 503),
                    },
                }
            },
            "/healthz": {"get": {"summary": "liveness", "responses": {"200": {"description": "alive"}}}},
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (deployment-wide series from Redis, then this process's own)",
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "readiness: Redis and its persistence settings",
                    "responses": {"200": {"description": "ready"}, "503": {"description": "not"}},
                }
            },
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(document())
