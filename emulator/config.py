"""The emulator's settings: one frozen value object, built once by the CLI or by a test."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

# A fixed GUID so that a receiver configured once keeps verifying callbacks across restarts.
# It plays the part of the ACS resource's immutable resource id (the JWT `aud`).
DEFAULT_RESOURCE_ID = "8f3c1d2e-5a6b-4c7d-9e0f-a1b2c3d4e5f6"
DEFAULT_ISSUER = "https://acscallautomation.communication.azure.com"


class ConfigError(ValueError):
    """A setting that cannot work, reported before anything starts."""


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    access_key: str
    host: str = "127.0.0.1"
    port: int = 0
    speed: float = 1.0
    tls: bool = False
    resource_id: str = DEFAULT_RESOURCE_ID
    issuer: str = DEFAULT_ISSUER
    callback_retries: int = 3
    callback_timeout: float = 5.0
    # First retry delay; it doubles per attempt, capped at 2 s.
    callback_backoff: float = 0.2
    # Callbacks go out through a small fixed pool of senders, one request each at a time.
    callback_senders: int = 8
    download_timeout: float = 10.0
    download_concurrency: int = 8
    seed: int | None = None

    def __post_init__(self) -> None:
        self.key_bytes()  # fail fast on a key that is not base64
        if self.speed <= 0:
            raise ConfigError("speed must be > 0")
        if self.callback_retries < 0:
            raise ConfigError("callback retries must be >= 0")
        if self.callback_backoff < 0:
            raise ConfigError("callback backoff must be >= 0")
        if self.callback_timeout <= 0 or self.download_timeout <= 0:
            raise ConfigError("timeouts must be > 0")
        if self.callback_senders < 1 or self.download_concurrency < 1:
            raise ConfigError("pool sizes must be >= 1")

    def key_bytes(self) -> bytes:
        """The HMAC key: ACS signs with the base64-decoded access key."""
        try:
            key = base64.b64decode(self.access_key, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError("access key must be base64, as in an ACS connection string") from exc
        if not key:
            raise ConfigError("access key must not be empty")
        return key
