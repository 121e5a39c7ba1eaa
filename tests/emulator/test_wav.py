from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from emulator.wav import WavFormatError, parse_wav
from tests.emulator.support import make_wav


def _chunk(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def _riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _fmt(tag: int = 1, channels: int = 1, rate: int = 16_000, bits: int = 16) -> bytes:
    block = channels * bits // 8
    return _chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits))


def test_a_wave_module_file_is_playable_with_its_duration() -> None:
    info = parse_wav(make_wav(1.5))
    assert info.is_playable
    assert info.duration == pytest.approx(1.5)


def test_extra_chunks_before_and_after_fmt_are_tolerated() -> None:
    data = _riff(
        _chunk(b"JUNK", b"\x00" * 27),  # odd size: exercises the pad byte
        _fmt(),
        _chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00test\x00\x00"),
        _chunk(b"fact", struct.pack("<I", 16_000)),
        _chunk(b"data", b"\x00" * 32_000),
    )
    info = parse_wav(data)
    assert info.is_playable
    assert info.duration == pytest.approx(1.0)


def test_wave_format_extensible_with_a_pcm_subformat_is_pcm() -> None:
    guid_pcm = struct.pack("<H", 1) + bytes.fromhex("000000001000800000aa00389b71")
    extension = struct.pack("<HHI", 22, 16, 4) + guid_pcm
    fmt_body = struct.pack("<HHIIHH", 0xFFFE, 1, 16_000, 32_000, 2, 16) + extension
    info = parse_wav(_riff(_chunk(b"fmt ", fmt_body), _chunk(b"data", b"\x00" * 3200)))
    assert info.is_playable


def test_a_data_size_larger_than_the_file_counts_only_what_is_there() -> None:
    data = _riff(_fmt()) + b"data" + struct.pack("<I", 0xFFFFFFFF) + b"\x00" * 16_000
    assert parse_wav(data).duration == pytest.approx(0.5)


@pytest.mark.parametrize(
    "data",
    [b"", b"RIFF\x00\x00\x00\x00AVI ", b"ID3\x03" + b"\x00" * 40, _riff(_chunk(b"data", b"\x00" * 4)), _riff(_fmt())],
    ids=["empty", "avi", "mp3", "no-fmt", "no-data"],
)
def test_non_wav_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(WavFormatError):
        parse_wav(data)


def test_a_float_wav_is_not_playable() -> None:
    info = parse_wav(_riff(_fmt(tag=3, bits=32), _chunk(b"data", b"\x00" * 64)))
    assert not info.is_playable


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([8_000, 16_000, 22_050, 44_100, 48_000]),
    channels=st.integers(min_value=1, max_value=2),
    width=st.sampled_from([1, 2, 3]),
    frames=st.integers(min_value=0, max_value=4_000),
)
def test_format_and_duration_are_read_from_any_wave_module_file(
    rate: int, channels: int, width: int, frames: int
) -> None:
    info = parse_wav(make_wav(frames / rate, rate=rate, channels=channels, width=width))
    assert (info.sample_rate, info.channels, info.bits_per_sample) == (rate, channels, width * 8)
    assert info.duration == pytest.approx(int(frames / rate * rate) / rate)
    assert info.is_playable == (rate == 16_000 and channels == 1 and width == 2)
