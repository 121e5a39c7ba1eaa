"""The /ui pages in-process: who gets in and how, what the index lists, what the call page carries."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

import service.ui
from service.settings import Settings
from service.ui.auth import COOKIE
from service.ui.pages import STATIC_TYPES
from service.web.app import create_app
from tests.conftest import API_KEY

AUTH = {"Authorization": f"Bearer {API_KEY}"}


async def test_without_a_key_a_page_is_the_login_form(visitor: httpx.AsyncClient) -> None:
    page = await visitor.get("/ui/calls/c-1")
    assert page.status_code == 401
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/ui/login">' in page.text
    assert 'name="next" value="/ui/calls/c-1"' in page.text


async def test_a_key_in_the_query_becomes_a_cookie_and_leaves_the_url(visitor: httpx.AsyncClient) -> None:
    answer = await visitor.get("/ui/calls/c-1", params={"key": API_KEY, "view": "x"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/calls/c-1?view=x"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and API_KEY not in cookie
    for attribute in ("HttpOnly", "Path=/ui", "SameSite=lax"):
        assert attribute in cookie
    page = await visitor.get("/ui/calls/c-1")  # the client kept the cookie, as a browser does
    assert page.status_code == 200 and 'data-call="c-1"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_a_wrong_key_in_the_query_is_refused(visitor: httpx.AsyncClient) -> None:
    answer = await visitor.get("/ui/", params={"key": "not-it"})
    assert answer.status_code == 401 and "That API key is not valid." in answer.text
    assert "not-it" not in answer.text and COOKIE not in answer.headers.get("set-cookie", "")


async def test_the_login_form_sets_the_cookie_and_goes_back(visitor: httpx.AsyncClient) -> None:
    answer = await visitor.post("/ui/login", data={"key": API_KEY, "next": "/ui/calls/c-2"})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/calls/c-2"
    assert (await visitor.get("/ui/calls/c-2")).status_code == 200
    elsewhere = await visitor.post("/ui/login", data={"key": API_KEY, "next": "//evil.example/ui/"})
    assert elsewhere.headers["location"] == "/ui/"  # never an open redirect
    wrong = await visitor.post("/ui/login", data={"key": "nope", "next": "/ui/"})
    assert wrong.status_code == 401


async def test_a_bearer_key_works_too(visitor: httpx.AsyncClient) -> None:
    assert (await visitor.get("/ui/", headers=AUTH)).status_code == 200


async def test_without_configured_keys_ui_is_open(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, api_keys=()))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/ui/calls/c-1")).status_code == 200
            assert (await client.get("/ui/")).status_code == 200


async def test_a_read_only_key_opens_the_pages(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, readonly_api_keys=("viewer-key",)))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            answer = await client.get("/ui/calls/c-1", params={"key": "viewer-key"})
            assert answer.status_code == 303
            assert (await client.get("/ui/calls/c-1")).status_code == 200


async def test_the_index_lists_recent_calls_newest_first(api: httpx.AsyncClient, visitor: httpx.AsyncClient) -> None:
    empty = await visitor.get("/ui/", headers=AUTH)
    assert "No calls yet" in empty.text
    plan = {"prompts": [{"audioFileUri": "http://127.0.0.1:9/a.wav"}]}
    first = (await api.post("/v1/calls/ui-old/sequences", json=plan)).json()["sequenceId"]
    await api.post(f"/v1/sequences/{first}/cancel")
    await api.post("/v1/calls/ui-new/sequences", json=plan)
    page = (await visitor.get("/ui/", headers=AUTH)).text
    assert page.index('href="/ui/calls/ui-new"') < page.index('href="/ui/calls/ui-old"')
    new_row = page[page.index('href="/ui/calls/ui-new"') :].split("</tr>")[0]
    old_row = page[page.index('href="/ui/calls/ui-old"') :].split("</tr>")[0]
    assert "playing" in new_row and "playScheduled" in new_row
    assert "idle" in old_row and "sequence canceled" in old_row
    assert (await visitor.get("/ui/calls", headers=AUTH)).headers["location"] == "/ui/"


async def test_the_call_page_names_its_stream(visitor: httpx.AsyncClient) -> None:
    page = (await visitor.get("/ui/calls/abc%3D%3D", headers=AUTH)).text  # base64-ish ids end with '='
    assert 'data-call="abc=="' in page
    assert 'data-events="/ui/calls/abc%3D%3D/events"' in page
    assert '<script type="module" src="/ui/static/timeline.js"></script>' in page


async def test_a_call_id_no_acs_call_has_is_refused(visitor: httpx.AsyncClient) -> None:
    answer = await visitor.get("/ui/calls/%3Cscript%3E", headers=AUTH)
    assert answer.status_code == 400 and answer.json()["field"] == "callConnectionId"


@pytest.mark.parametrize("name", sorted(STATIC_TYPES))
async def test_static_files(visitor: httpx.AsyncClient, name: str) -> None:
    answer = await visitor.get(f"/ui/static/{name}")
    assert answer.status_code == 200 and answer.headers["content-type"] == STATIC_TYPES[name]
    assert len(answer.content) > 500


def test_every_static_file_is_served() -> None:
    # A new script must be added to the allowlist, or the page would load without it.
    folder = Path(service.ui.__file__).parent / "static"
    assert sorted(p.name for p in folder.iterdir()) == sorted(STATIC_TYPES)


@pytest.mark.parametrize("name", ["pages.py", "..%2Fpages.py", "call.html", "nothing.js"])
async def test_only_the_static_files_are_served(visitor: httpx.AsyncClient, name: str) -> None:
    assert (await visitor.get(f"/ui/static/{name}")).status_code == 404


async def test_ui_routes_are_part_of_the_app(app: Starlette) -> None:
    paths = {getattr(route, "path", "") for route in app.routes}
    assert {"/ui/", "/ui/calls/{call_id}", "/ui/calls/{call_id}/events"} <= paths
