"""The running emulator: every part, built once and owned together, started and stopped as one."""

from __future__ import annotations

import httpx

from emulator.calls import Switchboard
from emulator.config import EmulatorConfig
from emulator.delivery import CallbackSender
from emulator.faults import FaultBook
from emulator.http_post import PostClient
from emulator.jwt_keys import KeyRing
from emulator.media import MediaLibrary
from emulator.timeline import Timeline


class Emulator:
    """Routes reach every part through this object; only ``start``/``stop`` touch the network clients."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.key = config.key_bytes()
        self.timeline = Timeline()
        self.faults = FaultBook(config.seed)
        self.keys = KeyRing(issuer=config.issuer, audience=config.resource_id)
        self._clients: list[httpx.AsyncClient | PostClient] = []
        self._sender: CallbackSender | None = None
        self._media: MediaLibrary | None = None
        self._switchboard: Switchboard | None = None

    @property
    def switchboard(self) -> Switchboard:
        if self._switchboard is None:
            raise RuntimeError("the emulator is not started")
        return self._switchboard

    @property
    def sender(self) -> CallbackSender:
        if self._sender is None:
            raise RuntimeError("the emulator is not started")
        return self._sender

    async def start(self) -> None:
        config = self.config
        callback_client = PostClient(config.callback_timeout, keep_per_origin=config.callback_senders)
        # trust_env=False: a proxy from the environment must not capture loopback traffic.
        download_client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.download_timeout),
            limits=httpx.Limits(
                max_connections=config.download_concurrency,
                max_keepalive_connections=config.download_concurrency,
            ),
            follow_redirects=True,
            trust_env=False,
        )
        self._clients = [callback_client, download_client]
        self._sender = CallbackSender(
            config, callback_client, faults=self.faults, keys=self.keys, timeline=self.timeline
        )
        self._media = MediaLibrary(download_client, concurrency=config.download_concurrency)
        self._switchboard = Switchboard(config, media=self._media, sender=self._sender, timeline=self.timeline)
        self._sender.start()

    async def stop(self) -> None:
        if self._switchboard is not None:
            self._switchboard.reset()
        if self._media is not None:
            await self._media.close()
        if self._sender is not None:
            await self._sender.stop()
        for client in self._clients:
            await client.aclose()
        self._clients = []

    def reset(self) -> None:
        """Forget calls, timelines, faults, cached audio and unsent callbacks; keys stay."""
        self.switchboard.reset()
        self.sender.reset()
        if self._media is not None:
            self._media.reset()
        self.timeline.reset()
        self.faults.clear()
