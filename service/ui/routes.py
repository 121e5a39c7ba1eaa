"""The /ui routes: the index of recent calls, a call's live timeline page and its event stream, login.

Who may see them, and how a browser proves it, is service.ui.auth.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from service.errors import InvalidRequest, Unauthenticated
from service.ui import stream
from service.ui.auth import authorized, keys, safe_next, start_session, valid_key
from service.ui.calls import recent_calls
from service.ui.pages import call_page, index_page, login_page, static_file
from service.web.body import read_body
from service.web.problems import problem
from service.web.state import app_state

# The same rule as the API's: ACS ids are GUIDs or base64-ish strings, nothing else reaches a key.
_CALL_ID = re.compile(r"[A-Za-z0-9._:~+=@-]{1,256}")
_LOGIN_BODY_LIMIT = 4096


def _call_id(request: Request) -> str:
    value: str = request.path_params["call_id"]
    if not _CALL_ID.fullmatch(value):
        raise InvalidRequest("callConnectionId has characters or a length that no ACS call id has",
                             field="callConnectionId")  # fmt: skip
    return value


def _here(request: Request, drop_key: bool = False) -> str:
    """This request's path and query, relative (never the Host header's idea of this site)."""
    url = request.url.remove_query_params("key") if drop_key else request.url
    return url.path + (f"?{url.query}" if url.query else "")


def _gate(request: Request) -> Response | None:
    """None when the page may be shown; otherwise the answer to give instead (a redirect or the login form)."""
    settings = app_state(request).settings
    key = request.query_params.get("key")
    if key is not None and keys(settings):
        if valid_key(key, settings):
            return start_session(RedirectResponse(_here(request, drop_key=True), status_code=303), request, key)
        return login_page(_here(request, drop_key=True), "That API key is not valid.")
    if authorized(request, settings):
        return None
    return login_page(_here(request))


async def index(request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    return index_page(await recent_calls(app_state(request).redis))


async def calls_index(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=308)


async def call(request: Request) -> Response:
    call_id = _call_id(request)
    if (refused := _gate(request)) is not None:
        return refused
    return call_page(call_id)


async def events(request: Request) -> Response:
    state = app_state(request)
    call_id = _call_id(request)
    if not authorized(request, state.settings):
        raise Unauthenticated("the timeline stream needs the /ui session cookie, a Bearer API key, or ?key=")
    if stream.open_streams() >= stream.MAX_OPEN_STREAMS:
        busy = problem(503, "too_many_streams", "too many timeline streams are open on this process; retry soon")
        busy.headers["Retry-After"] = "5"
        return busy
    since = stream.resume_from(request.headers.get("last-event-id"), request.query_params.get("since"))
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # nginx would otherwise hold events back
    return StreamingResponse(stream.timeline_events(state.store, call_id, since), media_type="text/event-stream",
                             headers=headers)  # fmt: skip


async def login(request: Request) -> Response:
    settings = app_state(request).settings
    form = parse_qs((await read_body(request, _LOGIN_BODY_LIMIT)).decode(errors="replace"))
    key = form.get("key", [""])[0]
    target = safe_next(form.get("next", [""])[0])
    if not keys(settings):
        return RedirectResponse(target, status_code=303)
    if not valid_key(key, settings):
        return login_page(target, "That API key is not valid.")
    return start_session(RedirectResponse(target, status_code=303), request, key)


async def static(request: Request) -> Response:
    return static_file(request.path_params["name"])


def ui_routes() -> list[Route]:
    return [
        Route("/ui/", index, methods=["GET"]),
        Route("/ui/calls", calls_index, methods=["GET"]),
        Route("/ui/calls/{call_id}", call, methods=["GET"]),
        Route("/ui/calls/{call_id}/events", events, methods=["GET"]),
        Route("/ui/login", login, methods=["POST"]),
        Route("/ui/static/{name}", static, methods=["GET"]),
    ]
