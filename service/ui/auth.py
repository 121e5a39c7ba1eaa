"""Who may see the /ui pages: the holders of an API key, read-only keys included (the pages only
read), as for the API's status routes, but the browser way.

A browser cannot put a Bearer header on a link or on an EventSource, so the key reaches /ui in
one of three ways, and then lives in a cookie:

- ``/ui/...?key=<api key>`` (what a terminal prints as a link): the key is checked, a session
  cookie is set, and the browser is redirected to the same URL without the key, so that it does
  not stay in the address bar, the history, or a Referer;
- the login form (``POST /ui/login``), shown instead of any page when there is no valid cookie;
- ``Authorization: Bearer <key>`` as on the API (curl, scripts).

The cookie holds an HMAC of the key, never the key: it stops working when that key is revoked.
It is HttpOnly, SameSite=Lax (every /ui route only reads) and scoped to /ui. With no API key
configured (development) /ui is open, like the API. callcue writes no access log, and the
redirect keeps the key out of any later request line.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

from service.settings import Settings

COOKIE = "callcue_ui"
COOKIE_MAX_AGE = 12 * 3600
_PURPOSE = b"callcue-ui-session-v1"


def keys(settings: Settings) -> tuple[str, ...]:
    return settings.api_keys + settings.readonly_api_keys


def session_token(api_key: str) -> str:
    return hmac.new(api_key.encode(), _PURPOSE, hashlib.sha256).hexdigest()


def valid_key(given: str, settings: Settings) -> bool:
    # Compare against every configured key without stopping early, each in constant time.
    found = False
    for key in keys(settings):
        found |= hmac.compare_digest(given.encode(), key.encode())
    return found


def _valid_token(given: str, settings: Settings) -> bool:
    found = False
    for key in keys(settings):
        found |= hmac.compare_digest(given.encode(), session_token(key).encode())
    return found


def authorized(request: Request, settings: Settings) -> bool:
    """True when the request carries a session cookie, a Bearer key or a ``?key=``, any of them valid."""
    if not keys(settings):
        return True
    cookie = request.cookies.get(COOKIE)
    if cookie and _valid_token(cookie, settings):
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token and valid_key(token.strip(), settings):
        return True
    key = request.query_params.get("key")
    return bool(key) and valid_key(key or "", settings)


def start_session(response: Response, request: Request, api_key: str) -> Response:
    response.set_cookie(COOKIE, session_token(api_key), max_age=COOKIE_MAX_AGE, path="/ui", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")  # fmt: skip
    return response


def safe_next(value: str | None) -> str:
    """Where to go after logging in: only a /ui path of this site (never an open redirect elsewhere)."""
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/"
