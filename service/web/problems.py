"""The one place where errors become HTTP answers: RFC 9457 problem details."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.errors import CallcueError

log = logging.getLogger("callcue.web")

PROBLEM = "application/problem+json"


def problem(
    status: int, code: str, detail: str, extra: dict[str, Any] | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = {
        "type": f"https://callcue.dev/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
    }
    # Extension members never overwrite the standard ones.
    body.update({k: v for k, v in (extra or {}).items() if k not in body})
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="callcue"'
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def callcue_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CallcueError)
    if exc.status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc.message)
    return problem(exc.status, exc.code, exc.message, exc.details)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    # Starlette's 405 carries the Allow header (RFC 9110 requires it): keep its headers.
    return problem(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal", "an unexpected error occurred; it has been logged")


HANDLERS = {CallcueError: callcue_error, HTTPException: http_error, Exception: unexpected}


async def answer(request: Request, exc: Exception) -> Response:
    """The answer to ``exc``, chosen from HANDLERS as Starlette chooses (the nearest class in its MRO).

    For the callback endpoint, which is served ahead of Starlette's exception middleware.
    """
    handler = next(HANDLERS[cls] for cls in type(exc).__mro__ if cls in HANDLERS)
    return await handler(request, exc)
