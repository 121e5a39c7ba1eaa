"""callcue's signer produces the same headers as the official SDK's HMAC policy, for the same request."""

from __future__ import annotations

import json

import pytest
from azure.communication.callautomation._shared import policy as sdk_policy
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.rest import HttpRequest

from service.acs.signing import sign

KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
DATE = "Tue, 07 Sep 2021 10:00:00 GMT"


@pytest.mark.parametrize(
    ("method", "url", "payload"),
    [
        ("POST", "https://contoso.communication.azure.com/calling/callConnections/abc/:playAudio"
                 "?api-version=2021-08-30-preview", {"audioFileUri": "https://a/b.wav", "loop": False}),
        ("POST", "https://contoso.communication.azure.com/calling/callConnections/abc:play?api-version=2024-09-15",
         {"playSources": [{"kind": "file", "file": {"uri": "https://a/b.wav"}}], "operationContext": "x"}),
        ("POST", "https://127.0.0.1:8443/calling/callConnections/abc:cancelAllMediaOperations"
                 "?api-version=2026-03-12", {}),
        ("DELETE", "https://contoso.communication.azure.com/calling/callConnections/abc?api-version=2024-09-15", None),
    ],
)  # fmt: skip
def test_same_headers_as_the_sdk(
    monkeypatch: pytest.MonkeyPatch, method: str, url: str, payload: dict[str, object] | None
) -> None:
    monkeypatch.setattr(sdk_policy, "get_current_utc_time", lambda: DATE)
    body = "" if payload is None else json.dumps(payload, separators=(",", ":"))
    host = url.split("/")[2]
    request = PipelineRequest(HttpRequest(method, url, content=body), PipelineContext(None))
    sdk_policy.HMACCredentialsPolicy(f"https://{host}", KEY).on_request(request)
    ours = sign(method, url, body.encode(), KEY, date=DATE)
    theirs = request.http_request.headers
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["x-ms-content-sha256"] == theirs["x-ms-content-sha256"]
    assert ours["x-ms-date"] == theirs["x-ms-date"]
