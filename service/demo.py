"""`callcue demo`: one sequence on one call, end to end, checked from both sides.

Prompt 1 once, prompt 2 twice, then a prompt in a format ACS refuses (8 kHz stereo). What
must happen: 4 play requests reach the emulator, 3 complete, the last fails with 8535 and is
not retried, and the sequence ends failed. The demo prints the call's timeline as it happens.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from service.audio_server import AudioServer, write_tone
from service.devstack import DevStack

CALL_ID = "demo-call-0001"
TIMEOUT = 45.0


def _describe(entry: dict[str, Any], t0: float, names: dict[str, str]) -> str:
    at = f"+{entry['at'] - t0:6.3f}s"
    where = ""
    if "step" in entry:
        where = f"prompt {entry['step'] + 1} play {entry['repeat'] + 1} try {entry['attempt']}"
    detail = entry["kind"]
    if entry["kind"] == "outcome":
        codes = "/".join(str(entry[k]) for k in ("code", "subcode") if k in entry) or f"HTTP {entry.get('httpStatus')}"
        detail = f"callback  {entry['outcome']:<10} {codes:<9} {entry.get('reason', '')}"
    elif entry["kind"] == "playScheduled":
        detail = f"scheduled {names.get(entry.get('audioFileUri', ''), '')}"
    elif entry["kind"] == "sequenceEnded":
        detail = f"sequence {entry['status']}: {entry.get('reason', '')}"
    return f"  {at}  {where:<26} {detail}"


def check(status: dict[str, Any], emulator_timeline: list[dict[str, Any]]) -> list[str]:
    """What went wrong, compared with what the plan must produce; empty when all is well."""
    problems = []
    plays = [e for e in emulator_timeline if e["kind"] == "playRequest"]
    callbacks = [e for e in emulator_timeline if e["kind"] == "callback"]
    if len(plays) != 4:
        problems.append(f"expected 4 play requests at the emulator, saw {len(plays)}")
    # GA also reports PlayStarted with 200/0: a completion is a PlayCompleted, or a preview
    # PlayAudioResult with 200/0.
    completed = [
        c
        for c in callbacks
        if str(c.get("eventType", "")).endswith("PlayCompleted")
        or (str(c.get("eventType", "")).endswith("PlayAudioResult") and (c.get("code"), c.get("subcode")) == (200, 0))
    ]
    failed = [c for c in callbacks if c.get("subcode") == 8535]
    if len(completed) != 3:
        problems.append(f"expected 3 completed plays, saw {len(completed)}")
    if len(failed) != 1:
        problems.append(f"expected 1 play failed with 8535, saw {len(failed)}")
    if status.get("status") != "failed":
        problems.append(f"expected the sequence to end failed, it is {status.get('status')}")
    ops = [op for step in status.get("steps", []) for op in step["operations"]]
    if len(ops) != 4 or any(op["attempt"] != 1 for op in ops):
        problems.append(f"expected 4 operations of one attempt each, saw {[(o['step'], o['attempt']) for o in ops]}")
    last = ops[-1] if ops else {}
    if last.get("resultInfo", {}).get("subcode") != 8535:
        problems.append(f"expected the last operation to fail with 8535, it has {last.get('resultInfo')}")
    return problems


def run() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="callcue-demo-") as tmp:
        audio = Path(tmp)
        write_tone(audio / "welcome.wav", 1.2, freq=440)
        write_tone(audio / "hold.wav", 0.6, freq=660)
        write_tone(audio / "bad-8k-stereo.wav", 0.5, rate=8000, channels=2)
        with AudioServer(audio) as files, DevStack(log_dir=audio / "logs") as stack, stack.client() as api:
            names = {files.url(n): n for n in ("welcome.wav", "hold.wav", "bad-8k-stereo.wav")}
            plan = {
                "prompts": [
                    {"audioFileUri": files.url("welcome.wav")},
                    {"audioFileUri": files.url("hold.wav"), "repeat": 2},
                    {"audioFileUri": files.url("bad-8k-stereo.wav")},
                ]
            }
            print(f"callcue {stack.web_url}, ACS emulator {stack.emulator_url}, Redis embedded")
            print(f"POST /v1/calls/{CALL_ID}/sequences: welcome.wav, hold.wav x2, bad-8k-stereo.wav")
            answer = api.post(f"/v1/calls/{CALL_ID}/sequences", json=plan)
            if answer.status_code != 202:
                print(f"the API refused the sequence: {answer.status_code} {answer.text}")
                return 1
            sid = answer.json()["sequenceId"]
            print(f"  202 {sid}\n\ntimeline:")
            status = follow(api, sid, names)
            assert stack.emulator_url is not None
            emulator = httpx.get(f"{stack.emulator_url}/emulator/calls/{CALL_ID}/timeline", timeout=5).json()
        print(f"\nGET /v1/sequences/{sid}: {status['status']} ({status.get('reason', '')})")
        for step in status["steps"]:
            for op in step["operations"]:
                info = op.get("resultInfo", {})
                print(
                    f"  prompt {step['step'] + 1} play {op['repeat'] + 1} try {op['attempt']}: {op['status']:<9}"
                    f" {info.get('code', '')}/{info.get('subcode', '')}  {op['operationContext']}"
                )
        problems = check(status, emulator["entries"])
    elapsed = time.monotonic() - started
    if problems:
        print("\ndemo FAILED:\n  " + "\n  ".join(problems))
        return 1
    print(f"\ndemo OK: 4 plays, 3 completed, the last failed with 8535 and was not retried ({elapsed:.1f} s)")
    return 0


def follow(api: httpx.Client, sid: str, names: dict[str, str]) -> dict[str, Any]:
    """Print the call's timeline as it grows, until the sequence ends; return its final status."""
    since = 0
    t0: float | None = None
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        # Status first: the entry that ends the sequence is written with its status, so the
        # timeline read after a final status holds everything.
        status: dict[str, Any] = api.get(f"/v1/sequences/{sid}").json()
        call = api.get(f"/v1/calls/{CALL_ID}", params={"since": since}).json()
        for entry in call["timeline"]:
            t0 = entry["at"] if t0 is None else t0
            print(_describe(entry, t0, names))
        since = call["timelineNext"]
        if status["status"] not in ("queued", "running"):
            return status
        time.sleep(0.1)
    raise TimeoutError(f"the sequence did not end within {TIMEOUT} s")
