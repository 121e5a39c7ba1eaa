from __future__ import annotations

import base64
import datetime as dt
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from emulator import hmac_auth
from tests.emulator.conftest import EmulatorHandle
from tests.emulator.support import WRONG_KEY, AudioServer, CallbackReceiver, hmac_headers, rfc1123

# The worked example of acs-protocol.md §3.2 (checked there against the SDK's HMACCredentialsPolicy).
VECTOR_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
VECTOR_DATE = "Tue, 07 Sep 2021 10:00:00 GMT"
VECTOR_HOST = "contoso.communication.azure.com"
VECTOR_TARGET = (
    "/calling/callConnections/411f0b00-0000-0000-0000-000000000000/:playAudio?api-version=2021-08-30-preview"
)
VECTOR_BODY = (
    b'{"audioFileUri":"https://example.org/audio/prompt.wav","loop":false,"operationContext":"op-123",'
    b'"audioFileId":"prompt-v1","callbackUri":"https://app.example.org/acs/callback?secret=s3cr3t"}'
)
VECTOR_HASH = "zE57Z+lNKtY5Wt1zkJ/eAUXnzwwIiAKacg1I/qceuHg="
VECTOR_AUTH = (
    "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256"
    "&Signature=AU5WncDc/of66OqN5bhOyWaGP5xBe8fqOlqY0nhtSZY="
)
VECTOR_NOW = parsedate_to_datetime(VECTOR_DATE) + dt.timedelta(minutes=1)


def _vector_headers(**changes: str) -> httpx.Headers:
    headers = httpx.Headers(
        {
            "host": VECTOR_HOST,
            "x-ms-date": VECTOR_DATE,
            "x-ms-content-sha256": VECTOR_HASH,
            "authorization": VECTOR_AUTH,
        }
    )
    headers.update(changes)
    return headers


def _verify(headers: httpx.Headers, *, body: bytes = VECTOR_BODY, target: str = VECTOR_TARGET) -> None:
    hmac_auth.verify(key=hmac_auth_key(), method="POST", target=target, headers=headers, body=body, now=VECTOR_NOW)


def hmac_auth_key() -> bytes:
    return base64.b64decode(VECTOR_KEY)


def test_the_test_signer_reproduces_the_documented_vector() -> None:
    headers = hmac_headers(
        method="POST", target=VECTOR_TARGET, host=VECTOR_HOST, body=VECTOR_BODY, access_key=VECTOR_KEY, date=VECTOR_DATE
    )
    assert headers["x-ms-content-sha256"] == VECTOR_HASH
    assert headers["Authorization"] == VECTOR_AUTH


def test_the_documented_vector_verifies() -> None:
    _verify(_vector_headers())


@pytest.mark.parametrize(
    ("headers", "body", "target", "reason"),
    [
        (_vector_headers(), VECTOR_BODY + b" ", VECTOR_TARGET, "does not match the request body"),
        (_vector_headers(host="contoso.communication.azure.com:443"), VECTOR_BODY, VECTOR_TARGET, "signature"),
        (_vector_headers(), VECTOR_BODY, VECTOR_TARGET.replace("08-30", "09-15"), "signature"),
        (_vector_headers(**{"x-ms-date": "Tue, 07 Sep 2021 10:00:01 GMT"}), VECTOR_BODY, VECTOR_TARGET, "signature"),
        (
            _vector_headers(authorization=VECTOR_AUTH.replace("HMAC-SHA256", "HMAC-SHA1")),
            VECTOR_BODY,
            VECTOR_TARGET,
            "scheme",
        ),
        (_vector_headers(authorization="HMAC-SHA256 Signature=abc="), VECTOR_BODY, VECTOR_TARGET, "SignedHeaders"),
        (
            _vector_headers(authorization=VECTOR_AUTH.replace("x-ms-date;host;", "x-ms-date;")),
            VECTOR_BODY,
            VECTOR_TARGET,
            "must cover",
        ),
        (_vector_headers(authorization="Bearer eyJ0eXAi"), VECTOR_BODY, VECTOR_TARGET, "Entra ID"),
    ],
)
def test_a_changed_request_does_not_verify(headers: httpx.Headers, body: bytes, target: str, reason: str) -> None:
    with pytest.raises(hmac_auth.AuthenticationError, match=reason):
        _verify(headers, body=body, target=target)


def test_the_date_must_be_within_fifteen_minutes() -> None:
    signed_at = parsedate_to_datetime(VECTOR_DATE)
    for offset in (dt.timedelta(minutes=16), dt.timedelta(minutes=-16)):
        with pytest.raises(hmac_auth.AuthenticationError, match="15 minutes"):
            hmac_auth.verify(
                key=hmac_auth_key(),
                method="POST",
                target=VECTOR_TARGET,
                headers=_vector_headers(),
                body=VECTOR_BODY,
                now=signed_at + offset,
            )


# -- over HTTP ----------------------------------------------------------------------------------


async def _play(emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver, **kwargs: Any) -> httpx.Response:
    payload = {
        "audioFileUri": f"{audio.url}/short.wav",
        "operationContext": "auth",
        "callbackUri": receiver.url + "/cb",
    }
    return await emu.acs.request("POST", "/calling/callConnections/auth-call/:playAudio", payload, **kwargs)


def _assert_401(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "401"
    assert reason in error["message"]


async def test_a_correctly_signed_request_is_accepted(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    assert (await _play(emu, audio, receiver)).status_code == 202


async def test_a_wrong_key_is_refused(emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver) -> None:
    _assert_401(await _play(emu, audio, receiver, access_key=WRONG_KEY), "signature does not match")


async def test_a_tampered_body_is_refused(emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver) -> None:
    def tamper(request: httpx.Request) -> None:
        request.stream = httpx.ByteStream(request.content.replace(b"auth", b"evil"))

    _assert_401(await _play(emu, audio, receiver, tamper=tamper), "does not match the request body")


async def test_a_stale_or_future_date_is_refused(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    for offset in (-20 * 60, 20 * 60):
        _assert_401(await _play(emu, audio, receiver, date=rfc1123(time.time() + offset)), "15 minutes")
    assert (await _play(emu, audio, receiver, date=rfc1123(time.time() - 10 * 60))).status_code == 202


async def test_a_missing_header_is_refused(emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver) -> None:
    for header in ("Authorization", "x-ms-date", "x-ms-content-sha256"):

        def drop(request: httpx.Request, header: str = header) -> None:
            del request.headers[header]

        response = await _play(emu, audio, receiver, tamper=drop)
        assert response.status_code == 401, header
        assert response.json()["error"]["code"] == "401"


async def test_an_unsigned_request_is_refused_before_anything_else(emu: EmulatorHandle) -> None:
    response = await emu.acs.request("DELETE", "/calling/callConnections/x", api_version="1999-01-01", sign=False)
    _assert_401(response, "missing Authorization")


async def test_the_host_header_is_taken_as_received(
    emu: EmulatorHandle, audio: AudioServer, receiver: CallbackReceiver
) -> None:
    def other_host(request: httpx.Request) -> None:
        request.headers["host"] = "contoso.communication.azure.com"

    # Signed for the real host, sent with another one: the signature no longer matches.
    _assert_401(await _play(emu, audio, receiver, tamper=other_host), "signature does not match")
