"""The requests callcue sends to ACS, in either dialect, over keep-alive connections.

It never raises for an HTTP status: every answer, including "no answer", comes back as an
``AcsResponse`` so that the sequencing policy decides what a 429 or a timeout means.
A connection failure or timeout is reported as status 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from service.acs.signing import sign
from service.acs.transport import HttpAnswer, KeepAlive, NoAnswer, Transport
from service.errors import ConfigurationError
from service.settings import AcsConnection


@dataclass(frozen=True)
class AcsResponse:
    status: int  # 0: no answer (connection error or timeout)
    body: dict[str, Any]
    retry_after: float | None = None
    error: str = ""

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def operation_id(self) -> str | None:
        value = self.body.get("operationId")
        return value if isinstance(value, str) else None


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def _error_message(answer: HttpAnswer) -> str:
    text = answer.body.decode(errors="replace")
    try:
        body = json.loads(answer.body)
    except ValueError:
        return text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    return text[:200]


ENTRA_SCOPE = "https://communication.azure.com/.default"

TokenProvider = Callable[[], str]


def entra_token_provider() -> TokenProvider:
    """Microsoft Entra ID tokens from azure-identity (the ``entra`` extra); it caches and renews them."""
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise ConfigurationError("CALLCUE_ACS_AUTH=entra needs azure-identity: pip install 'callcue[entra]'") from exc
    credential = DefaultAzureCredential()
    return lambda: str(credential.get_token(ENTRA_SCOPE).token)


class AcsClient:
    """``token_provider`` set: Entra ID bearer tokens; otherwise HMAC with the access key."""

    def __init__(
        self,
        connection: AcsConnection,
        api_version: str,
        timeout: float,
        transport: Transport | None = None,
        token_provider: TokenProvider | None = None,
    ) -> None:
        self.connection = connection
        self.api_version = api_version
        self.preview = api_version.startswith("2021-")
        self._http = transport if transport is not None else KeepAlive(timeout)
        self._token_provider = token_provider

    def close(self) -> None:
        self._http.close()

    def _url(self, call_id: str, action: str) -> str:
        call = quote(call_id, safe="")
        # The preview puts a slash before the action (":playAudio"); GA does not (":play").
        sep = "/" if self.preview else ""
        suffix = f"{sep}:{action}" if action else ""
        return f"{self.connection.endpoint}/calling/callConnections/{call}{suffix}?api-version={self.api_version}"

    def _send(self, method: str, url: str, payload: dict[str, Any] | None, now: float) -> AcsResponse:
        body = json.dumps(payload, separators=(",", ":")).encode() if payload is not None else b""
        if self._token_provider is not None:
            headers = {"Authorization": f"Bearer {self._token_provider()}"}
        else:
            headers = sign(method, url, body, self.connection.access_key)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            answer = self._http.request(method, url, body, headers)
        except NoAnswer as exc:
            return AcsResponse(status=0, body={}, error=str(exc))
        parsed: dict[str, Any] = {}
        if answer.body:
            try:
                decoded = json.loads(answer.body)
                parsed = decoded if isinstance(decoded, dict) else {}
            except ValueError:
                parsed = {}
        ok = 200 <= answer.status < 300
        return AcsResponse(
            status=answer.status,
            body=parsed,
            retry_after=_retry_after(answer.headers.get("retry-after"), now),
            error="" if ok else _error_message(answer),
        )

    def play(
        self,
        call_id: str,
        *,
        audio_uri: str,
        audio_file_id: str | None,
        loop: bool,
        operation_context: str,
        callback_uri: str,
        now: float,
    ) -> AcsResponse:
        if self.preview:
            payload: dict[str, Any] = {
                "audioFileUri": audio_uri,
                "loop": loop,
                "operationContext": operation_context,
                "callbackUri": callback_uri,
            }
            if audio_file_id:
                payload["audioFileId"] = audio_file_id
            return self._send("POST", self._url(call_id, "playAudio"), payload, now)
        source: dict[str, Any] = {"kind": "file", "file": {"uri": audio_uri}}
        if audio_file_id:
            source["playSourceCacheId"] = audio_file_id
        payload = {
            "playSources": [source],
            "playOptions": {"loop": loop},
            "operationContext": operation_context,
            "operationCallbackUri": callback_uri,
        }
        return self._send("POST", self._url(call_id, "play"), payload, now)

    def cancel_all(self, call_id: str, *, operation_context: str, now: float) -> AcsResponse:
        payload = {"operationContext": operation_context} if self.preview else {}
        return self._send("POST", self._url(call_id, "cancelAllMediaOperations"), payload, now)

    def hang_up(self, call_id: str, *, now: float) -> AcsResponse:
        if self.preview:
            return self._send("POST", self._url(call_id, "hangup"), None, now)
        return self._send("DELETE", self._url(call_id, ""), None, now)
