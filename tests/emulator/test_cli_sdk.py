"""The command line, run as a user would, driven by Microsoft's own Call Automation SDK."""

from __future__ import annotations

import asyncio
import gc
import re
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.communication.callautomation import CallAutomationClient, FileSource
from azure.core.exceptions import HttpResponseError

from emulator.cli import main
from tests.emulator.support import ACCESS_KEY, WRONG_KEY, AudioServer, CallbackReceiver

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"callcue emulator listening on (https?)://127\.0\.0\.1:(\d+)")


@dataclass
class RunningCli:
    process: asyncio.subprocess.Process
    port: int
    cert: Path


@pytest.fixture
async def cli_emulator() -> AsyncIterator[RunningCli]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "emulator",
        "--host=127.0.0.1",
        "--port=0",
        "--tls",
        f"--access-key={ACCESS_KEY}",
        "--speed=20",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        second = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert first.startswith("callcue emulator certificate: "), first
        cert = Path(first.removeprefix("callcue emulator certificate: ").strip())
        found = LISTENING.fullmatch(second.strip())
        assert found is not None and found.group(1) == "https", second
        port = int(found.group(2))
        assert port != 0
        yield RunningCli(process, port, cert)
    finally:
        if process.returncode is None:
            process.terminate()  # our own child, by its handle
        assert await asyncio.wait_for(process.wait(), 20) == 0
    assert not cert.exists()  # the certificate directory goes with the process


def test_a_key_that_is_not_base64_is_refused_before_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--access-key", "not base64!", "--port", "0"]) == 2
    assert "base64" in capsys.readouterr().err


def _error_status(operation: Callable[..., Any], *args: Any, **kwargs: Any) -> int | None:
    """Run a failing SDK call; return its HTTP status.

    The SDK's error keeps its unreleased response (and so its connection) alive through a reference
    cycle; an open TLS connection would hold up the emulator's shutdown for its whole grace period.
    Only the number leaves this function, and the cycle is collected before it returns.
    """
    status: int | None = None
    try:
        operation(*args, **kwargs)
    except HttpResponseError as exc:
        status = exc.status_code
    gc.collect()
    return status


def _client(port: int, key: str, cert: Path) -> CallAutomationClient:
    # The SDK signs `host` as written here; it reaches the emulator over HTTPS trusting its certificate.
    return CallAutomationClient.from_connection_string(
        f"endpoint=https://127.0.0.1:{port}/;accesskey={key}", connection_verify=str(cert)
    )


async def test_the_official_sdk_plays_cancels_and_hangs_up(
    cli_emulator: RunningCli, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    # Closed at the end: an idle TLS keep-alive connection would hold up the emulator's shutdown.
    with _client(cli_emulator.port, ACCESS_KEY, cli_emulator.cert) as client:
        await _play_cancel_hang_up(client, audio, receiver)


async def _play_cancel_hang_up(client: CallAutomationClient, audio: AudioServer, receiver: CallbackReceiver) -> None:
    call = client.get_call_connection("sdk-call")
    await asyncio.to_thread(
        call.play_media,
        FileSource(url=f"{audio.url}/short.wav"),
        operation_context="sdk-play",
        operation_callback_url=f"{receiver.url}/cb",
    )
    await receiver.wait_count(2)
    assert [r.type for r in receiver.for_context("sdk-play")] == ["PlayStarted", "PlayCompleted"]

    # No callback URL this time: the call's last one is used.
    await asyncio.to_thread(
        call.play_media, FileSource(url=f"{audio.url}/long.wav"), loop=True, operation_context="held"
    )
    await receiver.wait_count(3)
    await asyncio.to_thread(call.cancel_all_media_operations)
    await receiver.wait_count(4)
    assert [r.type for r in receiver.for_context("held")] == ["PlayStarted", "PlayCanceled"]

    await asyncio.to_thread(call.hang_up, is_for_everyone=False)
    await receiver.wait_count(5)
    assert receiver.received[-1].type == "CallDisconnected"
    assert await asyncio.to_thread(_error_status, call.cancel_all_media_operations) == 404


async def test_the_sdk_with_a_wrong_key_gets_401(cli_emulator: RunningCli) -> None:
    with _client(cli_emulator.port, WRONG_KEY, cli_emulator.cert) as client:
        call = client.get_call_connection("sdk-denied")
        status = await asyncio.to_thread(_error_status, call.play_media, FileSource(url="http://127.0.0.1:9/a.wav"))
    assert status == 401
