"""`callcue play` options → plan, and the text the client prints: no server needed."""

from __future__ import annotations

import pytest

from service.cli import parser
from service.client.plan import build_plan
from service.client.render import sequence_view, timeline_line


def plan_of(*argv: str) -> dict[str, object]:
    return build_plan(parser().parse_args(["play", "call-1", *argv]))


def test_prompt_options_bind_to_the_prompt_they_follow() -> None:
    plan = plan_of("--prompt", "http://h/a.wav", "--repeat", "3", "--prompt", "http://h/b.wav", "--loop")
    assert plan == {"prompts": [{"audioFileUri": "http://h/a.wav", "repeat": 3},
                                {"audioFileUri": "http://h/b.wav", "loop": True}]}  # fmt: skip


def test_prompt_options_before_the_first_prompt_are_defaults_that_a_prompt_can_override() -> None:
    plan = plan_of("--pause-ms", "200", "--repeat", "2", "--prompt", "http://h/a.wav", "--prompt", "http://h/b.wav",
                   "--repeat", "1")  # fmt: skip
    assert plan["prompts"] == [{"audioFileUri": "http://h/a.wav", "pauseAfterMs": 200, "repeat": 2},
                               {"audioFileUri": "http://h/b.wav", "pauseAfterMs": 200, "repeat": 1}]  # fmt: skip


def test_sequence_options_map_to_the_api_fields() -> None:
    plan = plan_of("--prompt", "http://h/a.wav", "--retry-attempts", "5", "--on-failure", "skip", "--deadline", "30",
                   "--mode", "enqueue")  # fmt: skip
    assert plan == {"prompts": [{"audioFileUri": "http://h/a.wav"}], "retry": {"maxAttempts": 5},
                    "onFailure": "skip", "deadlineSeconds": 30, "mode": "enqueue"}  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [
        ["--prompt", "http://h/a.wav", "--repeat", "2", "--repeat", "3"],  # twice for one prompt
        ["--repeat", "2"],  # no prompt at all
        ["--prompt", "http://h/a.wav", "--repeat", "two"],
        ["--prompt", "http://h/a.wav", "--mode", "sometimes"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["play", "call-1", *argv])
    assert exit_.value.code == 2
    assert "usage: callcue play" in capsys.readouterr().err


def test_sequence_view_shows_each_operation_and_pending_steps() -> None:
    op = {"operationContext": "sq_1.0", "step": 0, "repeat": 0, "attempt": 2, "status": "failed",
          "resultInfo": {"code": 400, "subcode": 8536}, "requestedAt": 100.0, "acceptedAt": 100.1, "endedAt": 100.6,
          "reason": "download failed"}  # fmt: skip
    steps = [{"step": 0, "audioFileUri": "http://h/a/one.wav", "status": "failed", "operations": [op]},
             {"step": 1, "audioFileUri": "http://h/two.wav", "status": "pending", "operations": []}]  # fmt: skip
    seq = {"sequenceId": "sq_1", "callConnectionId": "c", "status": "running", "createdAt": 99.0, "current": op,
           "steps": steps}  # fmt: skip
    text = sequence_view(seq)
    rows = text.splitlines()[-3:]
    assert rows[0].split()[:6] == ["STEP", "PROMPT", "PLAY", "TRY", "STATUS", "RESULT"]
    assert rows[1].split()[:6] == ["1", "one.wav", "1", "2", "failed", "400/8536"] and "500 ms" in rows[1]
    assert rows[2].split()[:5] == ["2", "two.wav", "-", "-", "pending"]
    assert "prompt 1 play 1 try 2: failed" in text


def test_an_unknown_timeline_kind_is_shown_whole() -> None:
    line = timeline_line({"at": 10.5, "kind": "somethingNew", "sequenceId": "sq_1", "x": 1}, t0=10.0)
    assert line.endswith('somethingNew {"x":1}') and "+0.500s" in line
