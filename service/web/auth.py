"""Who may call what: API keys for the control API, a shared secret on callbacks."""

from __future__ import annotations

import hmac
from urllib.parse import unquote_plus

from starlette.requests import Request

from service.errors import Forbidden, Unauthenticated
from service.settings import Settings


def _matches(given: str, accepted: tuple[str, ...]) -> bool:
    # Compare against every accepted value, without stopping early, in constant time each.
    found = False
    for value in accepted:
        found |= hmac.compare_digest(given.encode(), value.encode())
    return found


def query_value(query: bytes, name: str) -> str:
    """The last value of ``name`` in a raw query string, as ``request.query_params`` reads it ('' if absent).

    Every callback needs this one value; building the whole parameter dict cost more than the check.
    """
    prefix = name.encode() + b"="
    found = ""
    for part in query.split(b"&"):
        if part.startswith(prefix):
            found = unquote_plus(part[len(prefix) :].decode("latin-1"))
    return found


def require_api_key(request: Request, settings: Settings, *, write: bool = False) -> None:
    """Bearer API key on control and status routes; open only when no key is configured (development).

    401: no key, or a key callcue does not know. 403: a read-only key on a route that changes state.
    """
    if not settings.api_keys and not settings.readonly_api_keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("an API key is required: Authorization: Bearer <key>")
    token = token.strip()
    if _matches(token, settings.api_keys):
        return
    if _matches(token, settings.readonly_api_keys):
        if write:
            raise Forbidden("this API key may read, not start or cancel sequences")
        return
    raise Unauthenticated("the API key is not valid")


def require_callback_secret(request: Request, settings: Settings) -> None:
    """The secret callcue put in the callbackUri's query; two may be valid at once (rotation)."""
    if not settings.callback_secrets:
        return
    given = query_value(request.scope["query_string"], "secret")
    if not given or not _matches(given, settings.callback_secrets):
        raise Unauthenticated("the callback secret is missing or wrong")
