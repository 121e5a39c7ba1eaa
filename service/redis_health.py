"""Is this Redis fit to hold callcue's state? Persistence settings, version, and queue health.

Reported on /readyz; in production mode the web and worker processes refuse to start on a
Redis that would lose acknowledged callbacks (no AOF) or drop keys under memory pressure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio

from service.errors import ConfigurationError
from service.store import OUTBOX, PUMPS, WATCH

WANTED = {"appendonly": "yes", "maxmemory-policy": "noeviction"}
PUMP_ALIVE_SECONDS = 5.0  # a live pump beats once a second (HEARTBEAT_EVERY), late by at most IDLE_WAIT


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _assess(config: dict[str, str] | None, version: str) -> dict[str, Any]:
    report: dict[str, Any] = {"version": version, "problems": []}
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    report["waitaof"] = parts >= (7, 2)  # lets a deployment ask for fsync before each answer
    if config is None:
        report["problems"].append("CONFIG GET is not allowed: persistence settings could not be checked")
        report["checked"] = False
        return report
    report["checked"] = True
    for name in ("appendonly", "appendfsync", "maxmemory-policy"):
        report[name] = config.get(name, "")
    for name, wanted in WANTED.items():
        if config.get(name) != wanted:
            report["problems"].append(f"{name} is {config.get(name)!r}, callcue needs {wanted!r}")
    if config.get("appendfsync") not in ("everysec", "always"):
        report["problems"].append(f"appendfsync is {config.get('appendfsync')!r}: up to 30 s of writes may be lost")
    return report


async def persistence(client: redis.asyncio.Redis) -> dict[str, Any]:
    info = await client.info("server")
    try:
        raw = await client.config_get("*")
        config: dict[str, str] | None = {_text(k): _text(v) for k, v in raw.items()}
    except redis.ResponseError:
        config = None
    return _assess(config, _text(info.get("redis_version", "")))


def check_sync(client: redis.Redis, production: bool) -> dict[str, Any]:
    info = client.info("server")
    try:
        raw = client.config_get("*")
        config: dict[str, str] | None = {_text(k): _text(v) for k, v in raw.items()}
    except redis.ResponseError:
        config = None
    report = _assess(config, _text(info.get("redis_version", "")))
    refuse(report, production)
    return report


def refuse(report: dict[str, Any], production: bool) -> None:
    if production and report["checked"] and report["problems"]:
        raise ConfigurationError("this Redis would lose callcue's state: " + "; ".join(report["problems"]))


async def queues(client: redis.asyncio.Redis, queue_name: str, now: float) -> dict[str, Any]:
    """Queue depth, workers alive, and how far behind the outbox and the watchdog are."""
    pipe = client.pipeline(transaction=False)
    pipe.llen(f"rq:queue:{queue_name}")
    pipe.scard("rq:workers")
    pipe.zcard(OUTBOX)
    pipe.zrange(OUTBOX, 0, 0, withscores=True)
    pipe.zrange(WATCH, 0, 0, withscores=True)
    pipe.lindex(f"rq:queue:{queue_name}", 0)  # RQ pushes right and pops left: index 0 waited longest
    pipe.zcount(PUMPS, int((now - PUMP_ALIVE_SECONDS) * 1000), "+inf")
    depth, workers, outbox, first_out, first_watch, oldest, pumps = await pipe.execute()
    oldest_age = 0.0
    if oldest is not None:
        enqueued = await client.hget(f"rq:job:{_text(oldest)}", "enqueued_at")
        if enqueued:
            stamp = datetime.fromisoformat(_text(enqueued).replace("Z", "+00:00"))
            stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
            oldest_age = max(0.0, now - stamp.timestamp())

    def lag(first: list[tuple[bytes, float]]) -> float:
        return max(0.0, now - first[0][1] / 1000) if first else 0.0

    return {
        "queueDepth": depth,
        "oldestJobAgeSeconds": round(oldest_age, 3),
        "workers": workers,
        "pumpsAlive": pumps,
        "outbox": outbox,
        "outboxLagSeconds": round(lag(first_out), 3),
        "watchdogLagSeconds": round(lag(first_watch), 3),
    }
