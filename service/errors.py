"""callcue's one error tree. The web app maps it to problem details in one place (service.web.problems).

    CallcueError
    ├── ConfigurationError          settings that cannot work (raised at start, never per request)
    ├── InvalidRequest      400     a body or parameter that does not validate; names the field
    ├── Unauthenticated     401     missing or wrong credentials
    ├── Forbidden           403     credentials fine, action not allowed
    ├── NotFound            404     unknown sequence, operation or call
    ├── Conflict            409     the action does not fit the resource's state
    ├── PayloadTooLarge     413
    ├── StoreUnavailable    503     Redis cannot be reached; the caller may retry
    └── AcsError                    a request to ACS failed (used by workers, never reaches a client)

Domain code raises these; the same classes work inside RQ jobs, where an HTTP exception would mean nothing.
"""

from __future__ import annotations

from typing import Any


class CallcueError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigurationError(CallcueError):
    code = "configuration"


class InvalidRequest(CallcueError):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        if field is not None:
            details["field"] = field
        super().__init__(message, **details)


class Unauthenticated(CallcueError):
    status = 401
    code = "unauthenticated"


class Forbidden(CallcueError):
    status = 403
    code = "forbidden"


class NotFound(CallcueError):
    status = 404
    code = "not_found"


class Conflict(CallcueError):
    status = 409
    code = "conflict"


class PayloadTooLarge(CallcueError):
    status = 413
    code = "payload_too_large"


class StoreUnavailable(CallcueError):
    status = 503
    code = "store_unavailable"


class AcsError(CallcueError):
    code = "acs_error"
