"""What a worker process holds for its whole life: settings, Redis, the store and the ACS client.

Built once per process on first use, because RQ calls job functions by dotted path with JSON
arguments only; a job never builds its own HTTP client (a new one costs ~25 ms).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx
import redis

from service.acs.client import AcsClient, entra_token_provider
from service.connections import sync_redis
from service.errors import ConfigurationError
from service.settings import Settings
from service.store import SyncStore


@dataclass
class WorkerContext:
    settings: Settings
    redis: redis.Redis
    store: SyncStore
    acs: AcsClient
    http: httpx.Client  # for reading WAV headers; never used towards ACS

    def close(self) -> None:
        self.acs.close()
        self.http.close()
        self.redis.close()


_context: WorkerContext | None = None
_lock = threading.Lock()


def build(settings: Settings) -> WorkerContext:
    if settings.acs is None:
        raise ConfigurationError("no ACS: set CALLCUE_ACS_CONNECTION_STRING (or use `callcue dev`)")
    client = sync_redis(settings)
    return WorkerContext(
        settings=settings,
        redis=client,
        store=SyncStore(client, settings.retention_seconds),
        acs=AcsClient(
            settings.acs,
            settings.acs_api_version,
            settings.acs_timeout_seconds,
            token_provider=entra_token_provider() if settings.acs_auth == "entra" else None,
        ),
        http=httpx.Client(timeout=1.0, follow_redirects=True),
    )


def get() -> WorkerContext:
    global _context
    with _lock:
        if _context is None:
            _context = build(Settings.from_env())
        return _context


def install(context: WorkerContext) -> None:
    """Use this context for jobs in this process (the worker entry point builds it once)."""
    global _context
    with _lock:
        _context = context
