"""The /ui HTML: three templates filled in on the server, and the static files the pages load.

Every value put into a page is HTML-escaped here; the call page's script reads its data from
``data-`` attributes, so the Content-Security-Policy can forbid inline script altogether.
"""

from __future__ import annotations

import functools
import html
import time
from importlib import resources
from string import Template
from urllib.parse import quote

from starlette.responses import HTMLResponse, Response

from service.ui.calls import RecentCall

# Static files by name: an allowlist, so that no request path ever becomes a file path.
_JS = "text/javascript; charset=utf-8"
STATIC_TYPES = {
    "style.css": "text/css; charset=utf-8",
    "timeline.js": _JS,
    "model.js": _JS,
    "chart.js": _JS,
    "words.js": _JS,
}

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    # A page URL may still carry ?key= on the first visit: no Referer may take it elsewhere.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@functools.cache
def _read(folder: str, name: str) -> str:
    return resources.files("service.ui").joinpath(folder, name).read_text(encoding="utf-8")


def _template(name: str) -> Template:
    return Template(_read("templates", name))


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def call_path(call_id: str) -> str:
    return f"/ui/calls/{quote(call_id, safe='')}"


def call_page(call_id: str) -> HTMLResponse:
    e = html.escape
    return _page(_template("call.html").substitute(call_id=e(call_id), events_url=e(call_path(call_id) + "/events")))


def login_page(next_path: str, message: str | None = None, status: int = 401) -> HTMLResponse:
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    return _page(_template("login.html").substitute(next=html.escape(next_path), message=note), status)


def _ago(seconds: float) -> str:
    if seconds < 60:
        return f"{max(seconds, 0):.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    return f"{seconds // 3600:.0f} h ago"


def _last_event(entry: dict[str, object] | None) -> str:
    if not entry:
        return ""
    kind = str(entry.get("kind", ""))
    if kind == "sequenceEnded":
        return f"sequence {entry.get('status', '')}"
    if kind == "outcome":
        codes = "/".join(str(entry[k]) for k in ("code", "subcode") if entry.get(k) is not None)
        return f"play {entry.get('outcome', '')} {codes}".strip()
    return kind


def index_page(calls: list[RecentCall], now: float | None = None) -> HTMLResponse:
    now = time.time() if now is None else now
    e = html.escape
    if not calls:
        content = ('<p class="empty">No calls yet. Start a sequence (<code>callcue play CALL --prompt URL</code>) '
                   "and it shows here.</p>")  # fmt: skip
    else:
        rows = []
        for c in calls:
            state = f'<span class="pill {e(c.state)}">{e(c.state)}</span>'
            if c.queued:
                state += f' <span class="hint">+{c.queued} queued</span>'
            rows.append(
                f'<tr><td><a href="{e(call_path(c.call_id))}">{e(c.call_id)}</a></td><td>{state}</td>'
                f"<td>{c.sequences}</td><td>{e(_last_event(c.last_entry))}</td>"
                f'<td title="{e(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(c.last_activity)))}">'
                f"{e(_ago(now - c.last_activity))}</td></tr>"
            )
        head = "".join(f"<th>{h}</th>" for h in ("call", "state", "sequences", "last event", "last activity"))
        content = f'<table class="calls"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    return _page(_template("index.html").substitute(content=content))


def static_file(name: str) -> Response:
    media_type = STATIC_TYPES.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    # no-cache: the browser revalidates, so a new release's script is never mixed with an old page.
    return Response(_read("static", name), media_type=media_type,
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})  # fmt: skip
