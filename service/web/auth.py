"""Who may call what: API keys for the control API, a shared secret on callbacks."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from service.errors import Unauthenticated
from service.settings import Settings


def _matches(given: str, accepted: tuple[str, ...]) -> bool:
    # Compare against every accepted value, without stopping early, in constant time each.
    found = False
    for value in accepted:
        found |= hmac.compare_digest(given.encode(), value.encode())
    return found


def require_api_key(request: Request, settings: Settings) -> None:
    """Bearer API key on control and status routes; open only in development with no key set."""
    if not settings.api_keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("an API key is required: Authorization: Bearer <key>")
    if not _matches(token.strip(), settings.api_keys):
        raise Unauthenticated("the API key is not valid")


def require_callback_secret(request: Request, settings: Settings) -> None:
    """The secret callcue put in the callbackUri's query; two may be valid at once (rotation)."""
    if not settings.callback_secrets:
        return
    given = request.query_params.get("secret", "")
    if not given or not _matches(given, settings.callback_secrets):
        raise Unauthenticated("the callback secret is missing or wrong")
