"""The signer against the worked example of acs-protocol.md §3.2 (checked there against the official SDK)."""

from __future__ import annotations

import json

from service.acs.signing import EMPTY_BODY_HASH, sign

KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
URL = (
    "https://contoso.communication.azure.com/calling/callConnections/"
    "411f0b00-0000-0000-0000-000000000000/:playAudio?api-version=2021-08-30-preview"
)
BODY = {
    "audioFileUri": "https://example.org/audio/prompt.wav",
    "loop": False,
    "operationContext": "op-123",
    "audioFileId": "prompt-v1",
    "callbackUri": "https://app.example.org/acs/callback?secret=s3cr3t",
}


def test_worked_example() -> None:
    body = json.dumps(BODY, separators=(",", ":")).encode()
    headers = sign("POST", URL, body, KEY, date="Tue, 07 Sep 2021 10:00:00 GMT")
    assert headers["x-ms-content-sha256"] == "zE57Z+lNKtY5Wt1zkJ/eAUXnzwwIiAKacg1I/qceuHg="
    assert headers["Authorization"] == (
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256"
        "&Signature=AU5WncDc/of66OqN5bhOyWaGP5xBe8fqOlqY0nhtSZY="
    )
    assert headers["x-ms-date"] == "Tue, 07 Sep 2021 10:00:00 GMT"


def test_any_change_changes_the_signature() -> None:
    body = json.dumps(BODY, separators=(",", ":")).encode()
    date = "Tue, 07 Sep 2021 10:00:00 GMT"
    reference = sign("POST", URL, body, KEY, date=date)["Authorization"]
    assert sign("POST", URL, body + b" ", KEY, date=date)["Authorization"] != reference
    assert sign("POST", URL.replace("2021-08-30", "2021-09-15"), body, KEY, date=date)["Authorization"] != reference
    assert sign("POST", URL, body, KEY, date="Tue, 07 Sep 2021 10:00:01 GMT")["Authorization"] != reference
    assert sign("POST", URL, body, "A" + KEY[1:], date=date)["Authorization"] != reference


def test_empty_body_hash() -> None:
    assert sign("POST", URL, b"", KEY)["x-ms-content-sha256"] == EMPTY_BODY_HASH
    assert EMPTY_BODY_HASH == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
