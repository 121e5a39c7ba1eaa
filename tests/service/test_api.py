"""The control and status API in-process against real Redis: auth, validation, 404s, OpenAPI."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from service.errors import InvalidRequest
from service.model import Plan
from service.settings import Settings
from service.web.app import create_app
from service.web.openapi import PLAN, PLAN_EXAMPLES, document

PLAN_BODY = {"prompts": [{"audioFileUri": "http://127.0.0.1:9/a.wav"}]}


async def test_start_answers_202_with_a_status_url(api: httpx.AsyncClient) -> None:
    answer = await api.post("/v1/calls/call-api-1/sequences", json=PLAN_BODY)
    assert answer.status_code == 202
    body = answer.json()
    assert body["status"] == "running" and answer.headers["location"] == body["statusUrl"]
    status = (await api.get(body["statusUrl"])).json()
    assert status["current"]["status"] == "notStarted" and status["steps"][0]["status"] == "notStarted"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"prompts": [{"audioFileUri": "ftp://x/a.wav"}]}, "prompts[0].audioFileUri"), ({"prompts": []}, "prompts")],
)
async def test_bad_plans_are_400_naming_the_field(api: httpx.AsyncClient, body: dict[str, Any], field: str) -> None:
    answer = await api.post("/v1/calls/call-api-2/sequences", json=body)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field and answer.json()["code"] == "invalid_request"
    assert (await api.get("/v1/calls/call-api-2")).status_code == 404  # nothing was stored


async def test_unknown_ids_are_404(api: httpx.AsyncClient) -> None:
    for url in (
        "/v1/sequences/sq_00000000000000000000",
        "/v1/sequences/nope",
        "/v1/operations/sq_0.1",
        "/v1/calls/nobody",
        "/v1/nothing-here",
    ):
        answer = await api.get(url)
        assert answer.status_code == 404 and answer.json()["code"] == "not_found", url
    assert (await api.post("/v1/sequences/sq_00000000000000000000/cancel")).status_code == 404


async def test_bad_call_id_and_bad_json(api: httpx.AsyncClient) -> None:
    answer = await api.post("/v1/calls/a%20b/sequences", json=PLAN_BODY)
    assert answer.status_code == 400 and answer.json()["field"] == "callConnectionId"
    answer = await api.post("/v1/calls/c1/sequences", content=b"{")
    assert answer.status_code == 400 and "JSON" in answer.json()["detail"]


async def test_an_unknown_query_parameter_is_400_naming_it_and_changes_nothing(api: httpx.AsyncClient) -> None:
    answer = await api.post("/v1/calls/cq/sequences?mdoe=enqueue", json=PLAN_BODY)
    assert answer.status_code == 400 and answer.json()["field"] == "mdoe"
    assert (await api.get("/v1/calls/cq")).status_code == 404  # no sequence was started
    started = await api.post("/v1/calls/cq/sequences", json=PLAN_BODY)
    assert started.status_code == 202
    answer = await api.get("/v1/calls/cq?since=0&sinse=3")
    assert answer.status_code == 400 and answer.json()["field"] == "sinse"
    assert "since" in answer.json()["detail"]
    assert (await api.get("/v1/calls/cq?since=0")).status_code == 200
    for url in (f"/v1/sequences/{started.json()['sequenceId']}?x=1", "/v1/unmatched-events?limit=5"):
        answer = await api.get(url)
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_request", url


async def test_api_keys_401_and_read_only_403(redis_url: str) -> None:
    settings = Settings.from_env(
        {"CALLCUE_REDIS_URL": redis_url, "CALLCUE_API_KEYS": "rw-key", "CALLCUE_READONLY_API_KEYS": "ro-key"}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            url = "/v1/calls/c-auth/sequences"
            missing = await client.post(url, json=PLAN_BODY)
            assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
            wrong = await client.post(url, json=PLAN_BODY, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            read_only = await client.post(url, json=PLAN_BODY, headers={"Authorization": "Bearer ro-key"})
            assert read_only.status_code == 403 and read_only.json()["code"] == "forbidden"
            ok = await client.post(url, json=PLAN_BODY, headers={"Authorization": "Bearer rw-key"})
            assert ok.status_code == 202
            sid = ok.json()["sequenceId"]
            seen = await client.get(f"/v1/sequences/{sid}", headers={"Authorization": "Bearer ro-key"})
            assert seen.status_code == 200
            assert "rw-key" not in seen.text and "ro-key" not in seen.text


async def test_openapi_describes_every_route(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    from service.web.app import routes

    paths = {
        r.path.replace("{call_id}", "{callConnectionId}")
        .replace("{sequence_id}", "{sequenceId}")
        .replace("{operation_context}", "{operationContext}")
        for r in routes()
    }
    api_paths = {p for p in paths if not p.startswith("/ui")}  # the HTML pages are not API
    assert api_paths - {"/openapi.json"} <= set(spec["paths"])


def test_openapi_examples_validate_both_ways() -> None:
    spec = document()
    examples = spec["paths"]["/v1/calls/{callConnectionId}/sequences"]["post"]["requestBody"]["content"][
        "application/json"
    ]["examples"]
    assert examples == PLAN_EXAMPLES
    for example in examples.values():
        jsonschema.validate(example["value"], PLAN)
        Plan.from_json(example["value"])


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200_000),
    st.text(max_size=5),
    st.sampled_from(["https://a.example/x.wav", "ftp://a/x", "stop", "skip", "enqueue"]),
)
prompt = st.dictionaries(
    st.sampled_from(["audioFileUri", "repeat", "loop", "pauseAfterMs", "audioFileId", "x"]), values, max_size=4
)
bodies = st.fixed_dictionaries(
    {"prompts": st.lists(prompt, max_size=3)},
    optional={
        "onFailure": values,
        "mode": values,
        "deadlineSeconds": values,
        "retry": st.dictionaries(st.sampled_from(["maxAttempts", "initialDelayMs", "maxDelayMs"]), values),
    },
)


@hsettings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_schema_and_validator_agree(body: dict[str, Any]) -> None:
    refusal: InvalidRequest | None = None
    try:
        Plan.from_json(body)
    except InvalidRequest as exc:
        refusal = exc
    schema_ok = jsonschema.Draft202012Validator(PLAN).is_valid(body)
    assert schema_ok or refusal is not None, f"the validator accepts what the schema refuses: {body}"
    assert not schema_ok or refusal is None, f"the schema accepts what the validator refuses: {refusal}"
