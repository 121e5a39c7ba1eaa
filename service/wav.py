"""Reading a prompt's duration from the start of its WAV file, for the watchdog's deadline."""

from __future__ import annotations

import struct

HEADER_BYTES = 4096  # enough for RIFF, fmt and the start of data behind a few metadata chunks


def duration_seconds(head: bytes, total_size: int | None = None) -> float | None:
    """Duration of a PCM WAV from its first bytes; None when the header cannot be read.

    ``total_size`` (from Content-Range) bounds the data chunk when the header claims more
    than the file holds, as streaming writers do.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    byte_rate: int | None = None
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        (size,) = struct.unpack("<I", head[pos + 4 : pos + 8])
        body = pos + 8
        if chunk_id == b"fmt " and body + 16 <= len(head):
            _fmt, _channels, _rate, byte_rate = struct.unpack("<HHII", head[body : body + 12])
        elif chunk_id == b"data":
            if not byte_rate:
                return None
            if total_size is not None:
                size = min(size, max(0, total_size - body))
            seconds: float = size / byte_rate
            return seconds
        pos = body + size + (size & 1)  # chunks are word-aligned
    return None
