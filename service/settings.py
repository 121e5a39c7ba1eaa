"""Settings, read once from the environment into a typed, frozen object.

Every variable has the prefix ``CALLCUE_``. Two platform conventions are honoured as
fallbacks: ``REDIS_URL`` (set by hosted Redis add-ons) and ``PORT`` (set by Heroku-style
platforms for the web process).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from service.errors import ConfigurationError

PREVIEW_API_VERSION = "2021-08-30-preview"
ACS_CALLBACK_ISSUER = "https://acscallautomation.communication.azure.com"
ACS_CALLBACK_JWKS = "https://acscallautomation.communication.azure.com/calling/keys"


@dataclass(frozen=True)
class AcsConnection:
    """The parts of an ACS connection string (``endpoint=...;accesskey=...``)."""

    endpoint: str  # scheme://host[:port], no trailing slash
    access_key: str  # base64, as shown in the portal; empty with Entra ID authentication

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).netloc

    @classmethod
    def parse(cls, value: str) -> AcsConnection:
        # Keys are case-insensitive and the endpoint's trailing slash is dropped, as the SDKs do.
        parts: dict[str, str] = {}
        for item in value.split(";"):
            if not item.strip():
                continue
            key, sep, val = item.partition("=")
            if not sep:
                raise ConfigurationError(f"ACS connection string part {key!r} has no '='")
            parts[key.strip().lower()] = val.strip()
        endpoint = parts.get("endpoint", "").rstrip("/")
        access_key = parts.get("accesskey", "")
        if not endpoint:
            raise ConfigurationError("ACS connection string needs endpoint=...;accesskey=...")
        if urlsplit(endpoint).scheme not in ("http", "https"):
            raise ConfigurationError("ACS endpoint must be an http(s) URL")
        return cls(endpoint=endpoint, access_key=access_key)


def _split(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    acs: AcsConnection | None = None
    acs_api_version: str = PREVIEW_API_VERSION
    public_base_url: str = "http://127.0.0.1:8000"
    # The first secret goes into new callback URLs; all of them are accepted (rotation).
    callback_secrets: tuple[str, ...] = ()
    # GA callbacks carry an RS256 JWT; its audience is the ACS resource's immutable id.
    callback_jwt: str = "auto"  # "auto" (required for the GA dialect), "on", "off"
    acs_resource_id: str = ""
    acs_jwt_issuer: str = ACS_CALLBACK_ISSUER
    acs_jwks_url: str = ACS_CALLBACK_JWKS
    acs_auth: str = "hmac"  # "hmac" (access key) or "entra" (Microsoft Entra ID token, azure-identity)
    api_keys: tuple[str, ...] = ()
    readonly_api_keys: tuple[str, ...] = ()  # may read status, may not start or cancel
    host: str = "127.0.0.1"
    port: int = 8000
    environment: str = "development"
    queue_name: str = "callcue"
    retention_seconds: int = 86_400
    max_play_seconds: float = 120.0
    watchdog_grace_seconds: float = 5.0
    acs_timeout_seconds: float = 5.0
    # How long an outbox entry stays claimed by a pump before another may take it again: the
    # time a dead worker's follow-up waits before it is sent by someone else.
    outbox_lease_seconds: float = 30.0
    # How long one RQ job goes on taking the plays its process's pump claims (workers/session.py):
    # RQ's own cost is paid once per job instead of once per play. 0: one job per claimed batch.
    job_session_seconds: float = 5.0
    max_body_bytes: int = 1_048_576
    audio_hosts: tuple[str, ...] = ()  # empty: any host
    log_level: str = "INFO"

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def dialect(self) -> str:
        # The 2021 Server Calling previews share one surface; everything later is Call Automation.
        return "preview" if self.acs_api_version.startswith("2021-") else "ga"

    @property
    def jwt_required(self) -> bool:
        return self.callback_jwt == "on" or (self.callback_jwt == "auto" and self.dialect == "ga")

    @property
    def callback_url(self) -> str:
        base = self.public_base_url.rstrip("/") + "/callbacks/acs"
        if self.callback_secrets:
            return f"{base}?secret={self.callback_secrets[0]}"
        return base

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str, default: str = "") -> str:
            return env.get(f"CALLCUE_{name}", default).strip()

        def number(name: str, default: float) -> float:
            raw = get(name)
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigurationError(f"CALLCUE_{name} must be a number, got {raw!r}") from None
            if value < 0:
                raise ConfigurationError(f"CALLCUE_{name} must not be negative")
            return value

        acs_raw = get("ACS_CONNECTION_STRING")
        port_raw = get("PORT") or env.get("PORT", "").strip() or "8000"
        try:
            port = int(port_raw)
        except ValueError:
            raise ConfigurationError(f"PORT must be an integer, got {port_raw!r}") from None
        environment = get("ENV", "development")
        if environment not in ("development", "production"):
            raise ConfigurationError("CALLCUE_ENV must be 'development' or 'production'")
        settings = cls(
            redis_url=get("REDIS_URL") or env.get("REDIS_URL", "").strip() or None,
            acs=AcsConnection.parse(acs_raw) if acs_raw else None,
            acs_api_version=get("ACS_API_VERSION", PREVIEW_API_VERSION),
            public_base_url=get("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}"),
            callback_secrets=_split(get("CALLBACK_SECRETS")),
            callback_jwt=get("CALLBACK_JWT", "auto").lower(),
            acs_resource_id=get("ACS_RESOURCE_ID"),
            acs_jwt_issuer=get("ACS_JWT_ISSUER", ACS_CALLBACK_ISSUER),
            acs_jwks_url=get("ACS_JWKS_URL", ACS_CALLBACK_JWKS),
            acs_auth=get("ACS_AUTH", "hmac").lower(),
            api_keys=_split(get("API_KEYS")),
            readonly_api_keys=_split(get("READONLY_API_KEYS")),
            host=get("HOST", "127.0.0.1"),
            port=port,
            environment=environment,
            queue_name=get("QUEUE", "callcue"),
            retention_seconds=int(number("RETENTION_SECONDS", 86_400)),
            max_play_seconds=number("MAX_PLAY_SECONDS", 120.0),
            watchdog_grace_seconds=number("WATCHDOG_GRACE_SECONDS", 5.0),
            acs_timeout_seconds=number("ACS_TIMEOUT_SECONDS", 5.0),
            outbox_lease_seconds=number("OUTBOX_LEASE_SECONDS", 30.0),
            job_session_seconds=number("JOB_SESSION_SECONDS", 5.0),
            max_body_bytes=int(number("MAX_BODY_BYTES", 1_048_576)),
            audio_hosts=tuple(h.lower() for h in _split(get("AUDIO_HOSTS"))),
            log_level=get("LOG_LEVEL", "INFO").upper(),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that cannot work, and in production those that are unsafe."""
        if self.callback_jwt not in ("auto", "on", "off"):
            raise ConfigurationError("CALLCUE_CALLBACK_JWT must be auto, on or off")
        if self.jwt_required and not self.acs_resource_id:
            raise ConfigurationError(
                "GA callbacks are authenticated by a JWT whose audience is the ACS resource id: "
                "set CALLCUE_ACS_RESOURCE_ID (or CALLCUE_CALLBACK_JWT=off, never in production)"
            )
        if self.job_session_seconds < 0:
            raise ConfigurationError("CALLCUE_JOB_SESSION_SECONDS must be 0 or more")
        if self.acs_auth not in ("hmac", "entra"):
            raise ConfigurationError("CALLCUE_ACS_AUTH must be hmac or entra")
        if self.acs is not None and self.acs_auth == "hmac" and not self.acs.access_key:
            raise ConfigurationError("the ACS connection string has no accesskey (or set CALLCUE_ACS_AUTH=entra)")
        if not self.production:
            return
        if self.callback_jwt == "off" and self.dialect == "ga":
            raise ConfigurationError("production mode does not accept CALLCUE_CALLBACK_JWT=off")
        missing = [
            name
            for name, present in (
                ("CALLCUE_REDIS_URL (or REDIS_URL)", self.redis_url),
                ("CALLCUE_ACS_CONNECTION_STRING", self.acs),
                ("CALLCUE_API_KEYS", self.api_keys),
                ("CALLCUE_CALLBACK_SECRETS", self.callback_secrets),
                ("CALLCUE_PUBLIC_BASE_URL", self.public_base_url),
            )
            if not present
        ]
        if missing:
            raise ConfigurationError("production mode needs " + ", ".join(missing))
        if not self.public_base_url.startswith("https://"):
            raise ConfigurationError("production mode needs an https CALLCUE_PUBLIC_BASE_URL (ACS requires it)")
