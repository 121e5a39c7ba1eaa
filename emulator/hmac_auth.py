"""HMAC-SHA256 request authentication, verified the way ACS does it.

A signed request carries ``x-ms-date`` (RFC 1123), ``x-ms-content-sha256`` (base64 SHA-256 of the
exact body) and ``Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&
Signature=<base64>``. The string to sign is ``VERB\\n<path?query as received>\\n<values of the
signed headers, ';'-joined>``, keyed with the base64-decoded access key.

Everything is taken as received: the raw request target (never a re-encoded URL) and the Host
header (the SDK signs ``host`` exactly as written in its endpoint, port included).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

# ACS does not document its clock-skew window; other Azure HMAC services allow 15 minutes.
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)
_SCHEME = "HMAC-SHA256"
# Each of these must be covered by the signature, or a replayed body/date/host would verify.
_REQUIRED_SIGNED = ("host", "x-ms-content-sha256")
_DATE_HEADERS = ("x-ms-date", "date")


class AuthenticationError(Exception):
    """The request is not signed with the access key; the message says why (it is safe to return)."""


def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def request_target(raw_path: bytes, query_string: bytes) -> str:
    """Path and query exactly as they arrived on the request line."""
    target = raw_path.decode("latin-1")
    if query_string:
        target += "?" + query_string.decode("latin-1")
    return target


def _parse_authorization(value: str) -> tuple[list[str], bytes]:
    scheme, _, params = value.strip().partition(" ")
    if scheme != _SCHEME or not params:
        raise AuthenticationError(f"Authorization must use the {_SCHEME} scheme")
    fields: dict[str, str] = {}
    for part in params.strip().split("&"):
        name, sep, field_value = part.partition("=")  # the signature's base64 padding keeps its '='
        if not sep:
            raise AuthenticationError("malformed Authorization header")
        fields[name.strip()] = field_value.strip()
    signed = fields.get("SignedHeaders")
    signature = fields.get("Signature")
    if not signed or not signature:
        raise AuthenticationError("Authorization needs SignedHeaders and Signature")
    try:
        signature_bytes = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AuthenticationError("Signature is not base64") from exc
    return [name.strip().lower() for name in signed.split(";")], signature_bytes


def _check_date(value: str, now: dt.datetime) -> None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise AuthenticationError("request date is not an RFC 1123 date") from exc
    if when.tzinfo is None:
        raise AuthenticationError("request date has no time zone")
    if abs(now - when) > MAX_CLOCK_SKEW:
        raise AuthenticationError("request date is more than 15 minutes away from the server's clock")


def verify(
    *,
    key: bytes,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    now: dt.datetime | None = None,
) -> None:
    """Raise AuthenticationError unless the request is correctly signed with ``key``.

    ``headers`` must be looked up case-insensitively (Starlette's Headers are).
    """
    authorization = headers.get("authorization")
    if not authorization:
        raise AuthenticationError("missing Authorization header")
    if authorization.lower().startswith("bearer "):
        raise AuthenticationError("Microsoft Entra ID tokens are not emulated; sign requests with the access key")
    signed, signature = _parse_authorization(authorization)

    date_header = next((name for name in _DATE_HEADERS if name in signed), None)
    missing = [name for name in _REQUIRED_SIGNED if name not in signed]
    if date_header is None or missing:
        raise AuthenticationError("SignedHeaders must cover x-ms-date, host and x-ms-content-sha256")

    values: list[str] = []
    for name in signed:
        value = headers.get(name)
        if value is None:
            raise AuthenticationError(f"signed header {name} is missing")
        values.append(value)

    _check_date(headers[date_header], now or dt.datetime.now(dt.UTC))
    if not hmac.compare_digest(headers["x-ms-content-sha256"], content_hash(body)):
        raise AuthenticationError("x-ms-content-sha256 does not match the request body")

    string_to_sign = f"{method.upper()}\n{target}\n{';'.join(values)}"
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise AuthenticationError("request signature does not match")
