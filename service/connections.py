"""Redis clients, made in one place so that both processes talk to Redis the same way."""

from __future__ import annotations

import redis
import redis.asyncio

from service.errors import ConfigurationError
from service.settings import Settings


def _url(settings: Settings) -> str:
    if not settings.redis_url:
        raise ConfigurationError("no Redis: set CALLCUE_REDIS_URL (or REDIS_URL), or use `callcue dev`")
    return settings.redis_url


def sync_redis(settings: Settings) -> redis.Redis:
    # health_check_interval: a connection idle across a Redis restart is checked before reuse.
    return redis.Redis.from_url(_url(settings), health_check_interval=10, socket_timeout=10)


def async_redis(settings: Settings) -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(_url(settings), health_check_interval=10, socket_timeout=5)
