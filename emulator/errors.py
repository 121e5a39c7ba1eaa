"""The ACS error response, and the one exception that produces it.

ACS answers errors with ``{"error": {"code": "<string>", "message": "<string>"}}`` (the
CommunicationErrorResponse of the REST specs); the 2021 examples put the HTTP status, as a string,
in ``code``. The emulator does the same for every error it returns.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class AcsError(Exception):
    """Raised anywhere in request handling; the app turns it into the ACS error body."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": str(status), "message": message}}, status_code=status, headers=headers)


async def handle_acs_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AcsError)  # registered for AcsError only
    return error_response(exc.status, exc.message, exc.headers)
