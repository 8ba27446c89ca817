"""One encoded video frame as it travels from a source or encoder to viewers."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, get_args

VideoCodec = Literal["h264", "vp8"]
"""Codecs the relay can send: what browsers decode in WebRTC without plug-ins."""

VIDEO_CODECS: tuple[VideoCodec, ...] = get_args(VideoCodec)

RTP_CLOCK_HZ = 90_000
RTP_TIME_BASE = Fraction(1, RTP_CLOCK_HZ)


@dataclass(frozen=True)
class EncodedFrame:
    """One access unit of compressed video, shared read-only by every consumer.

    H.264 data is Annex-B (start codes), with SPS and PPS before every IDR.
    `pts_90k` is the presentation time on the 90 kHz RTP clock; `clock_ms`
    is the wall-clock time (ms, modulo 2**32) the picture was taken.
    """

    codec: VideoCodec
    data: bytes
    pts_90k: int
    keyframe: bool
    clock_ms: int
    width_px: int
    height_px: int


def as_video_codec(name: str) -> VideoCodec | None:
    """The relay codec for an FFmpeg codec name, or None if it cannot be sent as is.

    >>> as_video_codec("h264"), as_video_codec("hevc")
    ('h264', None)
    """
    lowered = name.lower()
    for codec in VIDEO_CODECS:
        if lowered == codec:
            return codec
    return None
