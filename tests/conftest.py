"""Shared fixtures: one real embedded Redis per session (flushed around each test), and the app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio

from service.embedded_redis import EmbeddedRedis
from service.settings import Settings
from service.store import AsyncStore, SyncStore
from service.web.app import create_app

API_KEY = "test-api-key"
CALLBACK_SECRET = "test-callback-secret"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server.url
    client.flushall()
    client.close()


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def sync_store(sync_redis: redis.Redis) -> SyncStore:
    return SyncStore(sync_redis, retention=3600)


@pytest.fixture
async def async_store(redis_url: str) -> AsyncIterator[AsyncStore]:
    client = redis.asyncio.Redis.from_url(redis_url)
    store = AsyncStore(client, retention=3600)
    yield store
    await store.aclose()
    await client.aclose()


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings.from_env(
        {
            "CALLCUE_REDIS_URL": redis_url,
            "CALLCUE_API_KEYS": API_KEY,
            "CALLCUE_CALLBACK_SECRETS": CALLBACK_SECRET,
            "CALLCUE_ACS_CONNECTION_STRING": "endpoint=http://127.0.0.1:9/;accesskey=MDEyMzQ1Njc4OWFiY2RlZg==",
        }
    )


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, its lifespan run, with the API key set; callbacks need ?secret=."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://callcue.test", headers=headers) as client:
            yield client


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    from service.audio_server import write_tone

    directory = tmp_path / "audio"
    directory.mkdir()
    write_tone(directory / "one.wav", 0.4)
    write_tone(directory / "two.wav", 0.3, freq=660)
    write_tone(directory / "bad.wav", 0.2, rate=8000, channels=2)
    return directory
