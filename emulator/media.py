"""Fetching the audio of a play, and ACS's ~1 hour cache of it.

Each play downloads its WAV over HTTP(S). A download that fails (connection error, timeout,
non-2xx, not http/https) is result 8536; a file ACS cannot play is 8535. When the request names a
cache id (preview ``audioFileId``, GA ``playSourceCacheId``) the outcome of a successful download is
kept for an hour under that id alone, as ACS does, so a changed file behind the same id is not seen
until the entry expires. Concurrent plays of the same id share one download.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx

from emulator import events
from emulator.wav import WavFormatError, parse_wav

CACHE_TTL = 3600.0
MAX_AUDIO_BYTES = 64 * 1024 * 1024

logger = logging.getLogger("emulator.media")


@dataclass(frozen=True, slots=True)
class Audio:
    """What a play source turned out to be: playable with a duration, or a failure result."""

    duration: float
    failure: events.Result | None = None
    detail: str = ""


class MediaLibrary:
    def __init__(self, client: httpx.AsyncClient, *, concurrency: int) -> None:
        self._client = client
        self._slots = asyncio.Semaphore(concurrency)
        self._cache: dict[str, tuple[float, Audio]] = {}
        self._inflight: dict[str, asyncio.Task[Audio]] = {}

    def reset(self) -> None:
        self._cache.clear()

    async def close(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._inflight.clear()

    async def load(self, uri: str, cache_id: str | None) -> Audio:
        if cache_id is None:
            return await self._fetch(uri)
        cached = self._cache.get(cache_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        task = self._inflight.get(cache_id)
        if task is None:
            task = asyncio.create_task(self._fetch_and_cache(uri, cache_id))
            self._inflight[cache_id] = task
        # Shielded: a canceled play must not cancel a download other plays are waiting for.
        return await asyncio.shield(task)

    async def _fetch_and_cache(self, uri: str, cache_id: str) -> Audio:
        try:
            audio = await self._fetch(uri)
            if audio.failure is not events.DOWNLOAD_FAILED:
                self._cache[cache_id] = (time.monotonic() + CACHE_TTL, audio)
            return audio
        finally:
            self._inflight.pop(cache_id, None)

    async def _fetch(self, uri: str) -> Audio:
        if not uri.lower().startswith(("http://", "https://")):
            return Audio(0.0, events.DOWNLOAD_FAILED, "audio URI is not http(s)")
        async with self._slots:
            try:
                body = await self._download(uri)
            except (httpx.HTTPError, httpx.InvalidURL, _TooLarge) as exc:
                logger.info("download of %s failed: %s", uri, exc)
                return Audio(0.0, events.DOWNLOAD_FAILED, f"download failed: {exc!r}")
        try:
            info = parse_wav(body)
        except WavFormatError as exc:
            return Audio(0.0, events.FORMAT_INVALID, str(exc))
        if not info.is_playable:
            return Audio(info.duration, events.FORMAT_INVALID, f"not mono 16-bit 16 kHz PCM: {info.describe()}")
        return Audio(info.duration)

    async def _download(self, uri: str) -> bytes:
        async with self._client.stream("GET", uri) as response:
            response.raise_for_status()
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_AUDIO_BYTES:
                    raise _TooLarge(f"audio is larger than {MAX_AUDIO_BYTES} bytes")
                chunks.append(chunk)
            return b"".join(chunks)


class _TooLarge(Exception):
    pass
