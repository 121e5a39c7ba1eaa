"""The live timeline page in a real browser: headless Chromium (Debian's), driven by selenium.

A real stack plays a real sequence while the page is open: the page must draw each play the API
reports, with its status, codes and retries, as the entries arrive, then a cancel. The test takes
a screenshot: to docs/ui-timeline.png with CALLCUE_UPDATE_SCREENSHOT=1 (for the README), else
to a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.command import Command
from selenium.webdriver.support.wait import WebDriverWait

from service.audio_server import AudioServer, write_tone
from service.devstack import DevStack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")
SPEED = 2.0  # slow enough to watch the plays happen, fast enough for a test
CALL = "ui-browser-1"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "ui-timeline.png"


@pytest.fixture(scope="module")
def driver() -> Iterator[webdriver.Chrome]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"the browser test needs Chromium and chromedriver (Debian: apt-get install chromium "
                    f"chromium-driver); not found: {', '.join(missing)}")  # fmt: skip
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="callcue-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1280,900", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        # The driver is given: Selenium Manager must not try to download one (the machine is offline).
        patch.setenv("SE_OFFLINE", "true")
        browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    env = {"CALLCUE_ACS_TIMEOUT_SECONDS": "2", "CALLCUE_WATCHDOG_GRACE_SECONDS": "1"}
    with DevStack(speed=SPEED, log_dir=tmp_path_factory.mktemp("stack"), extra_env=env) as running:
        yield running


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AudioServer]:
    directory = tmp_path_factory.mktemp("audio")
    write_tone(directory / "welcome.wav", 1.2, freq=440)
    write_tone(directory / "hold.wav", 0.5, freq=660)
    write_tone(directory / "bad-8k-stereo.wav", 0.3, rate=8000, channels=2)
    write_tone(directory / "goodbye.wav", 0.8, freq=520)
    with AudioServer(directory) as server:
        yield server


def js(driver: webdriver.Chrome, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def wait_until(driver: webdriver.Chrome, what: str, check: Callable[[], Any], timeout: float = 20) -> None:
    """Wait until ``check()`` is true; fail with the page's own state (and newest timeline rows) otherwise."""
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda _: check())
    except TimeoutException:
        state = js(driver, "return {...document.getElementById('app')?.dataset}")
        log = js(driver, "return [...document.querySelectorAll('#log tbody tr')].slice(0, 12).map(r => r.innerText)")
        raise AssertionError(f"the page never showed {what} in {timeout} s: {state}\n" + "\n".join(log)) from None


def browser_log(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    # What Chrome.get_log does, through the typed execute() (get_log itself has no annotations).
    entries: list[dict[str, Any]] = driver.execute(Command.GET_LOG, {"type": "browser"})["value"]
    return entries


def page_ops(driver: webdriver.Chrome) -> dict[str, dict[str, str]]:
    """Each play drawn on the chart, by operationContext: its data- attributes (status, attempt, code)."""
    ops: dict[str, dict[str, str]] = js(driver, """
        const out = {};
        for (const g of document.querySelectorAll('#chart g.op')) out[g.dataset.op] = {...g.dataset};
        return out;""")  # fmt: skip
    return ops


def seq_status(driver: webdriver.Chrome, sid: str) -> str | None:
    status: str | None = js(driver, "return document.querySelector(`#chart text[data-seq='${arguments[0]}']`)"
                                    "?.dataset.status ?? null", sid)  # fmt: skip
    return status


def api_ops(api: httpx.Client, sid: str) -> list[dict[str, Any]]:
    status = api.get(f"/v1/sequences/{sid}").json()
    return [op for step in status["steps"] for op in step["operations"]]


def test_the_page_draws_a_call_live(
    driver: webdriver.Chrome, stack: DevStack, files: AudioServer, tmp_path: Path
) -> None:
    # Opened before anything plays: everything on it later arrived live, over the event stream.
    driver.get(f"{stack.web_url}/ui/calls/{CALL}?key={stack.api_key}")
    assert driver.current_url == f"{stack.web_url}/ui/calls/{CALL}"  # the key left the address bar
    wait_until(driver, "the stream open", lambda: js(driver, "return document.querySelector('#live.open')"))
    assert "Waiting for the call's first entry" in js(driver, "return document.getElementById('chart').innerText")

    # One retry (an injected 503), a prompt repeated with pauses, a fatal 8535 that is skipped.
    fault = httpx.post(f"{stack.emulator_url}/emulator/faults",
                       json={"kind": "httpStatus", "callConnectionId": CALL, "status": 503, "times": 1})  # fmt: skip
    assert fault.status_code == 201, fault.text
    plan = {"prompts": [{"audioFileUri": files.url("welcome.wav")},
                        {"audioFileUri": files.url("hold.wav"), "repeat": 2, "pauseAfterMs": 400},
                        {"audioFileUri": files.url("bad-8k-stereo.wav")},
                        {"audioFileUri": files.url("goodbye.wav")}],
            "retry": {"maxAttempts": 3, "initialDelayMs": 300}, "onFailure": "skip"}  # fmt: skip
    with stack.client() as api:
        sid = api.post(f"/v1/calls/{CALL}/sequences", json=plan).json()["sequenceId"]
        wait_until(driver, "a first play", lambda: page_ops(driver))
        wait_until(driver, "the sequence completed", lambda: seq_status(driver, sid) == "completed")

        expected = api_ops(api, sid)
        shown = page_ops(driver)
        assert sorted(shown) == sorted(op["operationContext"] for op in expected)
        drawn = [shown[op["operationContext"]] for op in expected]
        assert [d["status"] for d in drawn] == [op["status"] for op in expected]
        assert [(d["attempt"], d.get("code")) for d in drawn] == [
            ("1", "HTTP 503"), ("2", "200/0"), ("1", "200/0"), ("1", "200/0"), ("1", "400/8535"), ("1", "200/0")
        ]  # fmt: skip
        chart = js(driver, "return document.getElementById('chart').innerText")
        assert "400/8535" in chart and "HTTP 503" in chart and "↻ try 2" in chart
        # The silences the plan asks for: the backoff before try 2, and the 400 ms pauses after each play
        # of hold.wav (more lines only where the machine was slow to send a play).
        assert js(driver, "return document.querySelectorAll('#chart line.wait').length") >= 3
        newest = js(driver, "return document.querySelector('#log tbody tr').innerText")
        assert "sequence completed: all prompts played (1 prompt(s) skipped after failure)" in newest

        # A looped prompt plays until canceled; the cancel shows on the page as it happens.
        loop = {"prompts": [{"audioFileUri": files.url("hold.wav"), "loop": True}]}
        looped = api.post(f"/v1/calls/{CALL}/sequences", json=loop).json()["sequenceId"]
        wait_until(
            driver, "the loop playing", lambda: page_ops(driver).get(f"{looped}.0", {}).get("status") == "running"
        )
        assert api.post(f"/v1/sequences/{looped}/cancel").status_code == 202
        wait_until(driver, "the loop canceled", lambda: seq_status(driver, looped) == "canceled")
        assert js(driver, "return document.querySelectorAll('#chart g.cancel').length") == 1
        assert js(driver, "return document.getElementById('app').dataset.live") == "no"
        # Every entry the API has, the page has too (the late 8508 of the canceled loop may add one more).
        total = len(api.get(f"/v1/calls/{CALL}").json()["timeline"])
        wait_until(driver, f"{total} entries", lambda: int(js(driver, "return document.getElementById('app')"
                                                                        ".dataset.entries")) >= total)  # fmt: skip

    errors = [entry for entry in browser_log(driver) if entry["level"] == "SEVERE"]
    assert not errors, errors
    screenshot(driver, tmp_path)


def test_the_index_links_to_the_call(driver: webdriver.Chrome, stack: DevStack) -> None:
    driver.get(f"{stack.web_url}/ui/")  # the session cookie of the first test still holds
    link = js(driver, "return [...document.querySelectorAll('table.calls a')].map(a => [a.innerText, a.href])")
    assert [CALL, f"{stack.web_url}/ui/calls/{CALL}"] in link


def screenshot(driver: webdriver.Chrome, tmp_path: Path) -> None:
    update = os.environ.get("CALLCUE_UPDATE_SCREENSHOT") == "1"
    target = DOCS_SCREENSHOT if update else tmp_path / "ui-timeline.png"
    # The window as tall as the chart and the first rows of the timeline: one picture of the whole call.
    height = js(driver, "return document.querySelector('#log').getBoundingClientRect().top + 330")
    driver.set_window_size(1280, min(int(height), 1400))
    js(driver, "window.dispatchEvent(new Event('resize'))")
    time.sleep(1.6)  # the newest timeline rows flash yellow for 1.5 s: let the picture settle
    target.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(target)), f"no screenshot written to {target}"
