"""The `callcue` client as a user runs it: a subprocess against a real stack (web, worker, Redis, emulator).

Every check reads what the command printed and how it exited, and compares with the API.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.audio_server import AudioServer
from service.devstack import DevStack
from service.embedded_redis import free_port

SPEED = 10.0
SID = re.compile(r"sq_[0-9a-f]{20}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    env = {"CALLCUE_ACS_TIMEOUT_SECONDS": "2", "CALLCUE_WATCHDOG_GRACE_SECONDS": "0.5"}
    with DevStack(speed=SPEED, log_dir=tmp_path_factory.mktemp("stack"), extra_env=env) as running:
        yield running


@pytest.fixture
def files(audio_dir: Path) -> Iterator[AudioServer]:
    with AudioServer(audio_dir) as server:
        yield server


@pytest.fixture
def api(stack: DevStack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def env_for(stack: DevStack, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCUE_")}
    return {**env, "CALLCUE_URL": stack.web_url, "CALLCUE_API_KEY": stack.api_key, **extra}


def cli(stack: DevStack, *argv: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", *argv], env=env_for(stack, **env),
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def wait_ended(api: httpx.Client, sid: str, timeout: float = 20) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, object] = api.get(f"/v1/sequences/{sid}").json()
        if status["status"] not in ("queued", "running"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"{sid} did not end within {timeout} s")


def test_play_prints_the_sequence_id_and_sends_the_plan(stack: DevStack, files: AudioServer, api: httpx.Client) -> None:
    done = cli(stack, "play", "cli-play", "--pause-ms", "50", "--prompt", files.url("one.wav"),
               "--prompt", files.url("two.wav"), "--repeat", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert SID.fullmatch(done.stdout.strip()), done.stdout
    plan = api.get(f"/v1/sequences/{done.stdout.strip()}").json()["plan"]
    assert plan["prompts"] == [{"audioFileUri": files.url("one.wav"), "repeat": 1, "pauseAfterMs": 50},
                               {"audioFileUri": files.url("two.wav"), "repeat": 2, "pauseAfterMs": 50}]  # fmt: skip


def test_play_wait_ends_with_the_final_status(stack: DevStack, files: AudioServer) -> None:
    done = cli(stack, "play", "cli-wait", "--prompt", files.url("one.wav"), "--prompt", files.url("two.wav"), "--wait")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert SID.fullmatch(lines[0])
    assert "\r" not in done.stdout  # no progress line when stdout is not a terminal
    assert re.search(r"^status\s+completed \(all prompts played\)$", done.stdout, re.M)
    rows = [line.split() for line in lines if line[:1].isdigit()]
    assert [row[:6] for row in rows] == [["1", "one.wav", "1", "1", "completed", "200/0"],
                                         ["2", "two.wav", "1", "1", "completed", "200/0"]]  # fmt: skip


def test_play_wait_exits_4_when_the_sequence_fails(stack: DevStack, files: AudioServer) -> None:
    done = cli(stack, "play", "cli-wait-bad", "--prompt", files.url("bad.wav"), "--wait")
    assert done.returncode == 4, done.stderr
    assert re.search(r"^status\s+failed \(.*8535.*\)$", done.stdout, re.M)
    assert "400/8535" in done.stdout


def test_play_wait_json_prints_the_final_status_document(
    stack: DevStack, files: AudioServer, api: httpx.Client
) -> None:
    done = cli(stack, "play", "cli-wait-json", "--prompt", files.url("two.wav"), "--wait", "--json")
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)
    assert final["status"] == "completed"
    assert final == api.get(f"/v1/sequences/{final['sequenceId']}").json()


def test_status_json_is_the_api_document(stack: DevStack, files: AudioServer, api: httpx.Client) -> None:
    sid = cli(stack, "play", "cli-status", "--prompt", files.url("two.wav")).stdout.strip()
    wait_ended(api, sid)
    done = cli(stack, "status", sid, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == api.get(f"/v1/sequences/{sid}").json()
    table = cli(stack, "status", sid)
    assert table.returncode == 0 and re.search(rf"^sequence\s+{sid}$", table.stdout, re.M)


def test_cancel_a_running_sequence_then_again(stack: DevStack, files: AudioServer, api: httpx.Client) -> None:
    sid = cli(stack, "play", "cli-cancel", "--prompt", files.url("one.wav"), "--loop").stdout.strip()
    done = cli(stack, "cancel", sid)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{sid} canceled\n"
    assert api.get(f"/v1/sequences/{sid}").json()["status"] == "canceled"
    again = cli(stack, "cancel", sid)
    assert again.returncode == 1
    assert again.stderr == "callcue: the sequence has already ended (canceled) (conflict)\n"
    assert again.stdout == ""


def test_tail_until_idle_prints_the_timeline(stack: DevStack, files: AudioServer, api: httpx.Client) -> None:
    sid = cli(stack, "play", "cli-tail", "--prompt", files.url("one.wav"), "--repeat", "2").stdout.strip()
    wait_ended(api, sid)
    done = cli(stack, "tail", "cli-tail", "--until-idle")
    assert done.returncode == 0, done.stderr
    what = [line.split("  ")[-1].strip() for line in done.stdout.splitlines()]
    assert what[0] == "sequence created: 1 prompt(s), mode replace"
    assert what.count("requested one.wav") == 2 and what.count("completed 200/0") == 2
    assert what[-1] == "sequence completed: all prompts played"
    assert all(sid in line for line in done.stdout.splitlines())
    as_json = cli(stack, "tail", "cli-tail", "--until-idle", "--json")
    entries = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert entries == api.get("/v1/calls/cli-tail").json()["timeline"]


def test_tail_follows_a_running_call_and_stops_when_it_is_idle(
    stack: DevStack, files: AudioServer, api: httpx.Client
) -> None:
    sid = cli(stack, "play", "cli-follow", "--prompt", files.url("one.wav"), "--loop").stdout.strip()
    argv = [sys.executable, "-m", "service.cli", "tail", "cli-follow", "--until-idle", "--interval", "0.05"]
    with subprocess.Popen(argv, env=env_for(stack), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as tail:
        assert tail.stdout is not None
        seen = []
        for line in tail.stdout:  # the loop plays until canceled, so tail cannot have ended yet
            seen.append(line)
            if "accepted by ACS" in line:
                break
        assert api.post(f"/v1/sequences/{sid}/cancel").status_code == 202
        rest, err = tail.communicate(timeout=10)
    assert tail.returncode == 0, err
    # The last line may be the late 8508 callback of the canceled play: recorded after the end.
    assert any(line.endswith("sequence canceled: canceled") for line in rest.splitlines()), rest


def test_tail_until_idle_of_an_unknown_call_exits_1(stack: DevStack) -> None:
    done = cli(stack, "tail", "cli-nobody", "--until-idle")
    assert done.returncode == 1
    assert done.stderr == "callcue: no call 'cli-nobody' (not_found)\n"


def test_unreachable_server_exits_3(stack: DevStack) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = cli(stack, "status", "sq_00000000000000000000", CALLCUE_URL=url)
    assert done.returncode == 3
    assert done.stderr.startswith(f"callcue: cannot reach callcue at {url}: ")


def test_bad_prompt_uri_exits_1_and_names_the_field(stack: DevStack, files: AudioServer) -> None:
    done = cli(stack, "play", "cli-bad", "--prompt", files.url("one.wav"), "--prompt", "ftp://files/two.wav")
    assert done.returncode == 1
    assert done.stderr == "callcue: prompts[1].audioFileUri: must be an absolute http(s) URL (invalid_request)\n"
    out_of_range = cli(stack, "play", "cli-bad", "--prompt", files.url("one.wav"), "--repeat", "0")
    assert out_of_range.returncode == 1 and "prompts[0].repeat" in out_of_range.stderr


def test_a_wrong_api_key_exits_1(stack: DevStack) -> None:
    done = cli(stack, "status", "sq_00000000000000000000", CALLCUE_API_KEY="not-the-key")
    assert done.returncode == 1
    assert done.stderr == "callcue: the API key is not valid (unauthenticated)\n"


def test_a_bad_url_is_a_usage_error(stack: DevStack) -> None:
    done = cli(stack, "status", "sq_00000000000000000000", "--url", "127.0.0.1:8000")
    assert done.returncode == 2 and "--url must be an http(s) URL" in done.stderr


def test_wait_shows_a_progress_line_on_a_terminal(stack: DevStack, files: AudioServer) -> None:
    # A looped prompt with a 1 s deadline: long enough for a few status lines, then timedOut (exit 4).
    argv = [sys.executable, "-m", "service.cli", "play", "cli-tty", "--prompt", files.url("one.wav"), "--loop",
            "--deadline", "1", "--wait"]  # fmt: skip
    leader, follower = pty.openpty()
    with subprocess.Popen(argv, env=env_for(stack), stdout=follower, stderr=subprocess.PIPE) as play:
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        play.wait(timeout=20)
    os.close(leader)
    text = output.decode()
    assert play.returncode == 4
    assert re.search(r"\r\x1b\[Ksq_[0-9a-f]{20}  running  prompt 1/1 play 1 try 1", text), text
    assert "timedOut" in text.rsplit("\x1b[K", 1)[-1]  # the final status comes after the line is cleared


def test_tail_into_a_pipe_that_closes_early_exits_quietly(
    stack: DevStack, files: AudioServer, api: httpx.Client
) -> None:
    argv = [sys.executable, "-m", "service.cli", "tail", "cli-pipe", "--interval", "0.05"]
    with subprocess.Popen(argv, env=env_for(stack), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as tail:
        assert tail.stdout is not None and tail.stderr is not None
        assert tail.stderr.readline() == "callcue: no sequence on cli-pipe yet; waiting for one\n"
        tail.stdout.close()  # like `| head -1` that has had its line: the reader is gone
        api.post("/v1/calls/cli-pipe/sequences", json={"prompts": [{"audioFileUri": files.url("two.wav")}]})
        tail.wait(timeout=10)  # its first write finds no reader
        assert tail.stderr.read() == ""  # no traceback
    assert tail.returncode == 0
