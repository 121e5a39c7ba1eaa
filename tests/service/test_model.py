"""Plan validation: every bad field is named in the error."""

from __future__ import annotations

from typing import Any

import pytest

from service.errors import InvalidRequest
from service.model import Plan

URI = "https://audio.example/a.wav"


def test_a_full_plan_round_trips() -> None:
    body = {
        "prompts": [
            {"audioFileUri": URI, "audioFileId": "a-v1", "repeat": 3, "pauseAfterMs": 250},
            {"audioFileUri": URI, "loop": True},
        ],
        "retry": {"maxAttempts": 4, "initialDelayMs": 100, "maxDelayMs": 1000},
        "onFailure": "skip",
        "deadlineSeconds": 60,
        "mode": "enqueue",
    }
    plan = Plan.from_json(body)
    assert plan.prompts[0].repeat == 3 and plan.prompts[1].loop
    assert Plan.from_json(plan.to_json()) == plan


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "prompts"),
        ({"prompts": []}, "prompts"),
        ({"prompts": [{}]}, "prompts[0].audioFileUri"),
        ({"prompts": [{"audioFileUri": "ftp://x/a.wav"}]}, "prompts[0].audioFileUri"),
        ({"prompts": [{"audioFileUri": "file:///etc/passwd"}]}, "prompts[0].audioFileUri"),
        ({"prompts": [{"audioFileUri": URI, "repeat": 0}]}, "prompts[0].repeat"),
        ({"prompts": [{"audioFileUri": URI, "repeat": True}]}, "prompts[0].repeat"),
        ({"prompts": [{"audioFileUri": URI, "repeat": 2, "loop": True}]}, "prompts[0].repeat"),
        ({"prompts": [{"audioFileUri": URI, "pauseAfterMs": -1}]}, "prompts[0].pauseAfterMs"),
        ({"prompts": [{"audioFileUri": URI, "volume": 3}]}, "prompts[0].volume"),
        ({"prompts": [URI]}, "prompts[0]"),
        ({"prompts": [{"audioFileUri": URI}], "retry": {"maxAttempts": 0}}, "retry.maxAttempts"),
        ({"prompts": [{"audioFileUri": URI}], "onFailure": "retry"}, "onFailure"),
        ({"prompts": [{"audioFileUri": URI}], "mode": "append"}, "mode"),
        ({"prompts": [{"audioFileUri": URI}], "deadlineSeconds": 0}, "deadlineSeconds"),
        ({"prompts": [{"audioFileUri": URI}], "extra": 1}, "extra"),
    ],
)
def test_bad_fields_are_named(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        Plan.from_json(body)
    assert caught.value.details["field"] == field
    assert caught.value.message.startswith(field)


def test_audio_host_allow_list() -> None:
    plan = {"prompts": [{"audioFileUri": "https://evil.example/a.wav"}]}
    with pytest.raises(InvalidRequest, match="CALLCUE_AUDIO_HOSTS"):
        Plan.from_json(plan, allowed_hosts=("audio.example",))
    assert Plan.from_json({"prompts": [{"audioFileUri": URI}]}, allowed_hosts=("audio.example",))
