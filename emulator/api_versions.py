"""Which api-versions the emulator answers, and which dialect each one speaks.

The preview dialect is the 2021 Server Calling API (``/:playAudio``); the GA dialect is Call
Automation (``:play``). The GA list is the one the official Python SDK
(azure-communication-callautomation 1.6.0, ``_api_versions.ApiVersion``) knows; it is copied here
rather than imported because the SDK is only a dev dependency. A test checks the two stay equal.
"""

from __future__ import annotations

import enum
import re


class Dialect(enum.Enum):
    PREVIEW = "preview"
    GA = "ga"


GA_VERSIONS: frozenset[str] = frozenset(
    {
        "2023-03-06",
        "2023-10-15",
        "2024-04-15",
        "2024-09-15",
        "2025-05-15",
        "2025-06-15",
        "2026-03-12",
    }
)

# Every 2021 Server Calling preview (06-15, 08-30, 09-15, 11-15) shares the play/cancel/hangup shape.
_PREVIEW_VERSION = re.compile(r"2021-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])-preview")


def dialect_of(api_version: str | None) -> Dialect | None:
    """The dialect of an api-version, or None when the emulator does not know it."""
    if api_version is None:
        return None
    if api_version in GA_VERSIONS:
        return Dialect.GA
    if _PREVIEW_VERSION.fullmatch(api_version):
        return Dialect.PREVIEW
    return None
