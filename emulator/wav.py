"""Reading a RIFF/WAVE header, and ACS's rule for what it can play.

ACS plays WAV only: PCM, mono, 16-bit, 16 kHz. Anything else is result 8535 ("file format is
invalid"). The header is parsed by hand so that the rule is explicit and chunks the ``wave`` module
rejects (``LIST``, ``fact``, ``JUNK`` before ``fmt``) are tolerated.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# The first two bytes of a WAVE_FORMAT_EXTENSIBLE sub-format GUID hold the real format tag.
_EXTENSIBLE_PCM_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")

REQUIRED_CHANNELS = 1
REQUIRED_SAMPLE_RATE = 16_000
REQUIRED_BITS = 16


class WavFormatError(ValueError):
    """The bytes are not a WAV file ACS would play."""


@dataclass(frozen=True, slots=True)
class WavInfo:
    format_tag: int
    channels: int
    sample_rate: int
    bits_per_sample: int
    data_bytes: int

    @property
    def duration(self) -> float:
        """Seconds of audio in the data chunk."""
        frame_bytes = self.channels * (self.bits_per_sample // 8)
        if frame_bytes == 0 or self.sample_rate == 0:
            return 0.0
        return (self.data_bytes // frame_bytes) / self.sample_rate

    @property
    def is_playable(self) -> bool:
        return (
            self.format_tag == _WAVE_FORMAT_PCM
            and self.channels == REQUIRED_CHANNELS
            and self.sample_rate == REQUIRED_SAMPLE_RATE
            and self.bits_per_sample == REQUIRED_BITS
        )

    def describe(self) -> str:
        return f"format {self.format_tag:#06x}, {self.channels} ch, {self.sample_rate} Hz, {self.bits_per_sample}-bit"


def _format_tag(fmt: bytes) -> int:
    (tag,) = struct.unpack_from("<H", fmt, 0)
    if tag == _WAVE_FORMAT_EXTENSIBLE and len(fmt) >= 40 and fmt[26:40] == _EXTENSIBLE_PCM_GUID_TAIL:
        (tag,) = struct.unpack_from("<H", fmt, 24)
    return int(tag)


def parse_wav(data: bytes) -> WavInfo:
    """Parse the header; raise WavFormatError when the bytes are not RIFF/WAVE with fmt and data."""
    if len(data) < 12 or data[0:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavFormatError("not a RIFF/WAVE file")
    offset = 12
    fmt: bytes | None = None
    data_bytes: int | None = None
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body_start = offset + 8
        if chunk_id == b"fmt ":
            fmt = data[body_start : body_start + size]
            if len(fmt) < 16:
                raise WavFormatError("fmt chunk is truncated")
        elif chunk_id == b"data":
            # Streaming writers leave the size at 0 or 0xFFFFFFFF; only count bytes that are there.
            data_bytes = min(size, len(data) - body_start)
            break
        offset = body_start + size + (size & 1)  # chunks are padded to an even length
    if fmt is None:
        raise WavFormatError("no fmt chunk before the data")
    if data_bytes is None:
        raise WavFormatError("no data chunk")
    _tag, channels, sample_rate, _byte_rate, _block_align, bits = struct.unpack_from("<HHIIHH", fmt, 0)
    return WavInfo(
        format_tag=_format_tag(fmt),
        channels=channels,
        sample_rate=sample_rate,
        bits_per_sample=bits,
        data_bytes=data_bytes,
    )
