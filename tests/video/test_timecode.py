"""The latency timecode: exact round trips, rejection of noise, survival of compression."""

from __future__ import annotations

import numpy as np
import pytest

from web.video.encoder import EncoderSettings, VideoEncoder, i420_picture
from web.video.timecode import (
    TimeCode,
    crc8,
    decode_bits,
    draw_timecode,
    encode_bits,
    latency_ms,
    read_timecode,
)


@pytest.mark.parametrize(("width_px", "height_px"), [(160, 96), (640, 360), (1280, 720)])
def test_round_trip_on_a_luma_plane(width_px: int, height_px: int) -> None:
    luma = np.random.default_rng(1).integers(0, 256, (height_px, width_px), dtype=np.uint8)
    code = TimeCode(clock_ms=4_000_000_123, frame_index=65_535)
    draw_timecode(luma, code)
    assert read_timecode(luma) == code


def test_round_trip_on_a_bgr_image() -> None:
    image = np.full((360, 640, 3), 200, dtype=np.uint8)
    draw_timecode(image, TimeCode(7, 8))
    assert read_timecode(image[:, :, 1]) == TimeCode(7, 8)


def test_values_wrap_at_their_modulus() -> None:
    bits = encode_bits(TimeCode(clock_ms=(1 << 32) + 5, frame_index=(1 << 16) + 9))
    assert decode_bits(bits) == TimeCode(5, 9)


def test_a_frame_without_a_code_reads_as_none() -> None:
    rng = np.random.default_rng(2)
    for _ in range(20):
        assert read_timecode(rng.integers(0, 256, (360, 640), dtype=np.uint8)) is None
    assert read_timecode(np.zeros((360, 640), dtype=np.uint8)) is None


def test_a_single_flipped_bit_is_rejected() -> None:
    bits = encode_bits(TimeCode(123, 4))
    for index in range(64):
        flipped = list(bits)
        flipped[index] ^= 1
        assert decode_bits(flipped) is None


def test_crc8_check_value() -> None:
    assert crc8(b"123456789") == 0xF4


def test_latency_across_the_clock_wrap() -> None:
    assert latency_ms(TimeCode((1 << 32) - 10, 0), now_ms=15) == 25


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_the_code_survives_low_bitrate_encoding(codec: str) -> None:
    import av

    encoder = VideoEncoder(codec, 640, 360, 30, EncoderSettings(bitrate_bps=150_000))  # type: ignore[arg-type]
    decoder = av.CodecContext.create("h264" if codec == "h264" else "libvpx", "r")
    rng = np.random.default_rng(3)
    decoded = []
    for index in range(15):
        i420 = rng.integers(0, 256, (540, 640), dtype=np.uint8)  # noise: hard to compress
        draw_timecode(i420[:360], TimeCode(1_000 + index * 33, index))
        for frame in encoder.encode(i420_picture(i420, index * 3000), 0, index / 30):
            for picture in decoder.decode(av.Packet(frame.data)):
                decoded.append(read_timecode(picture.to_ndarray(format="gray")))
    assert decoded[-5:] == [TimeCode(1_000 + i * 33, i) for i in range(10, 15)]
