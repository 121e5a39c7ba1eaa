"""Hypothesis-generated callback bodies and headers: never a 5xx, and a refused element changes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import redis
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.conftest import CALLBACK_SECRET

CTX = "sq_0123456789abcdef0123.0"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
# Elements that look like ACS events, with any field swapped for junk.
field_names = st.sampled_from(["id", "type", "source", "specversion", "time", "data", "eventType", "subject"])
data_names = st.sampled_from(["operationContext", "resultInfo", "resultInformation", "status", "callConnectionId"])
events = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=8) | json_values,
        "type": st.sampled_from(
            [
                "Microsoft.Communication.PlayAudioResult",
                "Microsoft.Communication.PlayCompleted",
                "Microsoft.Communication.PlayFailed",
                "Microsoft.Communication.CallDisconnected",
                "x",
            ]
        )
        | json_values,
        "specversion": st.sampled_from(["1.0", "0.3", "2"]) | json_values,
        "source": st.text(max_size=8) | json_values,
        "time": st.sampled_from(["2021-09-07T10:00:05Z", "nope"]) | json_values,
        "data": st.dictionaries(data_names, json_values | st.just(CTX)) | json_values,
    },
).flatmap(lambda base: st.dictionaries(field_names, json_values, max_size=2).map(lambda junk: {**base, **junk}))
bodies = st.one_of(
    st.lists(events, max_size=5).map(lambda x: json.dumps(x).encode()),
    events.map(lambda x: json.dumps(x).encode()),
    json_values.map(lambda x: json.dumps(x).encode()),
    st.binary(max_size=64),
)
headers = st.dictionaries(
    st.sampled_from(["content-type", "ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time", "authorization"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    max_size=4,
)


def _state(client: redis.Redis) -> dict[str, Any]:
    # Everything except what is meant to grow with every request: unmatched events and metrics.
    keys = [k.decode() if isinstance(k, bytes) else k for k in client.keys("*")]
    return {k: client.dump(k) for k in keys if k not in ("cc:unmatched", "cc:metrics")}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, extra=headers)
async def test_no_body_or_header_makes_a_5xx_or_a_half_change(
    api: httpx.AsyncClient, sync_redis: redis.Redis, body: bytes, extra: dict[str, str]
) -> None:
    before = _state(sync_redis)
    answer = await api.post(f"/callbacks/acs?secret={CALLBACK_SECRET}", content=body, headers=extra)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.json()["code"] and _state(sync_redis) == before
    else:
        report = answer.json()
        assert report["received"] == report["applied"] + report["duplicates"] + report["recorded"] + len(
            report["refused"]
        )
