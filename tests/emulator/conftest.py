from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.runtime import Emulator
from tests.emulator.support import ACCESS_KEY, AcsClient, AudioServer, CallbackReceiver, ServerGroup, make_wav

SPEED = 20.0


@dataclass
class EmulatorHandle:
    url: str
    emulator: Emulator
    acs: AcsClient
    control: httpx.AsyncClient

    async def timeline(self, call_id: str) -> list[dict[str, Any]]:
        response = await self.control.get(f"/emulator/calls/{call_id}/timeline")
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries

    async def add_fault(self, **rule: Any) -> dict[str, Any]:
        response = await self.control.post("/emulator/faults", json=rule)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


StartEmulator = Callable[..., Awaitable[EmulatorHandle]]


@pytest.fixture
async def servers() -> AsyncIterator[ServerGroup]:
    group = ServerGroup()
    try:
        yield group
    finally:
        await group.stop()


@pytest.fixture
async def start_emulator(servers: ServerGroup) -> AsyncIterator[StartEmulator]:
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> EmulatorHandle:
            settings: dict[str, Any] = {"access_key": ACCESS_KEY, "speed": SPEED, "callback_backoff": 0.02}
            settings.update(overrides)
            app = create_app(EmulatorConfig(**settings))
            url = await servers.start(app)
            acs = AcsClient(url)
            stack.push_async_callback(acs.aclose)
            control = httpx.AsyncClient(base_url=url, trust_env=False, timeout=10)
            stack.push_async_callback(control.aclose)
            return EmulatorHandle(url, app.state.emulator, acs, control)

        yield start


@pytest.fixture
async def emu(start_emulator: StartEmulator) -> EmulatorHandle:
    return await start_emulator()


@pytest.fixture
async def receiver(servers: ServerGroup) -> CallbackReceiver:
    recorder = CallbackReceiver()
    recorder.url = await servers.start(recorder.app())
    return recorder


@pytest.fixture
async def audio(servers: ServerGroup) -> AudioServer:
    files = AudioServer()
    files.url = await servers.start(files.app())
    files.add("short.wav", make_wav(0.4))  # 20 ms at speed 20
    files.add("long.wav", make_wav(4.0))  # 200 ms at speed 20
    files.add("stereo8k.wav", make_wav(0.4, rate=8000, channels=2))
    return files
