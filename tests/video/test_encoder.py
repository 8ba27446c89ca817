"""The shared encoder: one packet per picture, IDRs on request but rate-limited."""

from __future__ import annotations

import numpy as np
import pytest

from web.video.encoded_frame import EncodedFrame, VideoCodec
from web.video.encoder import EncoderSettings, KeyframeGate, VideoEncoder, i420_picture
from web.video.passthrough_source import h264_nal_types


def _pictures(count: int, width_px: int = 320, height_px: int = 240) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, (height_px * 3 // 2, width_px), dtype=np.uint8)
    return [np.roll(base, index * 3, axis=1) for index in range(count)]


def _encode_all(encoder: VideoEncoder, count: int, request_at: set[int]) -> list[EncodedFrame]:
    frames = []
    for index, i420 in enumerate(_pictures(count)):
        if index in request_at:
            encoder.gate.request()
        frames += encoder.encode(i420_picture(i420, index * 3000), clock_ms=index, now_s=index / 30)
    return frames


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_one_packet_per_picture_and_a_keyframe_first(codec: VideoCodec) -> None:
    encoder = VideoEncoder(codec, 320, 240, 30, EncoderSettings(keyframe_interval_s=10))
    frames = _encode_all(encoder, 10, set())
    assert len(frames) == 10
    assert [f.keyframe for f in frames] == [True] + [False] * 9
    assert [f.pts_90k for f in frames] == [i * 3000 for i in range(10)]
    assert {f.codec for f in frames} == {codec}
    assert encoder.encode_cpu_s > 0


def test_h264_is_annex_b_baseline_with_parameter_sets_before_every_idr() -> None:
    encoder = VideoEncoder("h264", 320, 240, 30, EncoderSettings(keyframe_interval_s=0.5))
    frames = _encode_all(encoder, 31, set())
    keyframes = [f for f in frames if f.keyframe]
    assert len(keyframes) == 3  # frames 0, 15 and 30: the configured interval
    for frame in keyframes:
        assert frame.data.startswith(b"\x00\x00\x00\x01")
        assert h264_nal_types(frame.data)[:2] == [7, 8]
        assert 5 in h264_nal_types(frame.data)  # an IDR slice
    sps = keyframes[0].data[4:8]
    assert sps[1] == 0x42  # profile_idc: Baseline
    assert all(5 not in h264_nal_types(f.data) for f in frames if not f.keyframe)


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_requested_keyframes_come_at_once_but_at_most_every_min_interval(codec: VideoCodec) -> None:
    settings = EncoderSettings(keyframe_interval_s=100, keyframe_min_interval_s=0.2)
    encoder = VideoEncoder(codec, 320, 240, 30, settings)
    # Requests at frames 10 and 11 (one IDR), then at 13: too soon after 10, so at 16.
    frames = _encode_all(encoder, 20, {10, 11, 13})
    assert [i for i, f in enumerate(frames) if f.keyframe] == [0, 10, 16]


def test_keyframe_gate_coalesces_requests() -> None:
    gate = KeyframeGate(min_interval_s=1.0)
    assert gate.take(0.0) is False
    for _ in range(50):
        gate.request()
    assert gate.take(0.0) is True
    assert gate.take(0.1) is False
    gate.note_keyframe(5.0)
    gate.request()
    assert gate.take(5.5) is False
    assert gate.take(6.0) is True
    assert (gate.requests, gate.granted) == (51, 2)


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="bitrate"):
        EncoderSettings(bitrate_bps=10)
    with pytest.raises(ValueError, match="keyframe"):
        EncoderSettings(keyframe_interval_s=0)
