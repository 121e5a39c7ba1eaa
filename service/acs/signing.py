"""HMAC-SHA256 request signing, as ACS expects it from an access key.

String to sign: ``VERB\\n<path?query>\\n<x-ms-date>;<host>;<x-ms-content-sha256>``, keyed with the
base64-decoded access key. The path and query are signed exactly as sent, so callers must send
the URL they signed byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

EMPTY_BODY_HASH = base64.b64encode(hashlib.sha256(b"").digest()).decode()


def rfc1123(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def sign(method: str, url: str, body: bytes, access_key: str, date: str | None = None) -> dict[str, str]:
    """The headers that authenticate one request: x-ms-date, x-ms-content-sha256, Authorization."""
    parts = urlsplit(url)
    path_and_query = parts.path + (f"?{parts.query}" if parts.query else "")
    date = date or rfc1123(datetime.now(UTC))
    digest = content_hash(body)
    to_sign = f"{method.upper()}\n{path_and_query}\n{date};{parts.netloc};{digest}"
    key = base64.b64decode(access_key)
    signature = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest()).decode()
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": digest,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
    }
