"""The shared video encoder: PyAV's libx264 (Baseline) or libvpx (VP8), tuned for live.

One encoder serves every viewer of a stream that wants its codec. It emits
exactly one packet per picture (no B-frames, no look-ahead), and it produces
an IDR when asked, at most once per `keyframe_min_interval_s`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.video.frame import PictureType

from web.video.encoded_frame import RTP_TIME_BASE, EncodedFrame, VideoCodec
from web.video.errors import EncoderError


@dataclass(frozen=True)
class EncoderSettings:
    """Rate control and keyframes for one encoder."""

    bitrate_bps: int = 1_500_000
    keyframe_interval_s: float = 2.0
    keyframe_min_interval_s: float = 0.25
    threads: int = 1
    """Encoder threads; 0 picks one per core (up to 4). With one thread the
    encoder's CPU time is measured exactly (`VideoEncoder.encode_cpu_s`)."""

    def __post_init__(self) -> None:
        if self.bitrate_bps < 50_000:
            raise ValueError("bitrate_bps must be at least 50 kbit/s")
        if self.keyframe_interval_s <= 0 or self.keyframe_min_interval_s < 0:
            raise ValueError("keyframe intervals must be positive")


class KeyframeGate:
    """Coalesces keyframe requests (viewer joins, PLI, FIR) into rate-limited IDRs.

    >>> gate = KeyframeGate(min_interval_s=1.0)
    >>> gate.request(); gate.take(now_s=10.0), gate.take(now_s=10.1)
    (True, False)
    >>> gate.request(); gate.take(now_s=10.5), gate.take(now_s=11.0)
    (False, True)
    """

    def __init__(self, min_interval_s: float) -> None:
        self._min_interval_s = min_interval_s
        self._pending = False
        self._last_s: float | None = None
        self.requests = 0
        self.granted = 0

    def request(self) -> None:
        """Ask for a keyframe as soon as the rate limit allows."""
        self._pending = True
        self.requests += 1

    def take(self, now_s: float) -> bool:
        """Whether the next picture must be a keyframe; consumes the request."""
        if not self._pending:
            return False
        if self._last_s is not None and now_s - self._last_s < self._min_interval_s:
            return False
        self._pending = False
        self._last_s = now_s
        self.granted += 1
        return True

    def note_keyframe(self, now_s: float) -> None:
        """A keyframe went out anyway (periodic GOP); it satisfies pending requests."""
        self._pending = False
        self._last_s = now_s


class VideoEncoder:
    """Encodes I420 pictures of one size into `EncodedFrame`s of one codec.

    Not thread-safe; `encode` blocks for a few milliseconds and is meant to run
    in a worker thread (PyAV releases the GIL while encoding).
    """

    def __init__(
        self,
        codec: VideoCodec,
        width_px: int,
        height_px: int,
        fps: int,
        settings: EncoderSettings | None = None,
    ) -> None:
        self.codec: VideoCodec = codec
        self.width_px = width_px
        self.height_px = height_px
        self.settings = settings or EncoderSettings()
        self.gate = KeyframeGate(self.settings.keyframe_min_interval_s)
        self._context = _open_context(codec, width_px, height_px, fps, self.settings)
        self.frames_encoded = 0
        self.encode_cpu_s = 0.0

    def encode(self, picture: av.VideoFrame, clock_ms: int, now_s: float) -> list[EncodedFrame]:
        """Encode one picture whose `pts` is on the 90 kHz clock.

        Raises EncoderError if FFmpeg rejects the picture.
        """
        force = self.gate.take(now_s)
        picture.pict_type = PictureType.I if force else PictureType.NONE
        started_s = time.thread_time()
        try:
            packets = self._context.encode(picture)
        except av.error.FFmpegError as exc:
            raise EncoderError(f"{self.codec} encoder rejected a picture: {exc}") from exc
        finally:
            self.encode_cpu_s += time.thread_time() - started_s
        self.frames_encoded += 1
        frames = []
        for packet in packets:
            if packet.is_keyframe and not force:
                self.gate.note_keyframe(now_s)
            frames.append(
                EncodedFrame(
                    codec=self.codec,
                    data=bytes(packet),
                    pts_90k=int(packet.pts if packet.pts is not None else picture.pts or 0),
                    keyframe=bool(packet.is_keyframe),
                    clock_ms=clock_ms,
                    width_px=self.width_px,
                    height_px=self.height_px,
                )
            )
        return frames

    def encode_i420(
        self, i420: npt.NDArray[np.uint8], pts_90k: int, clock_ms: int, now_s: float
    ) -> list[EncodedFrame]:
        """Encode a planar YUV 4:2:0 array (H*3/2 x W)."""
        return self.encode(i420_picture(i420, pts_90k), clock_ms, now_s)


def i420_picture(i420: npt.NDArray[np.uint8], pts_90k: int) -> av.VideoFrame:
    """Wrap a planar YUV 4:2:0 array (H*3/2 x W) as a picture on the 90 kHz clock."""
    picture = av.VideoFrame.from_ndarray(i420, format="yuv420p")
    picture.pts = pts_90k
    picture.time_base = RTP_TIME_BASE
    return picture


def _open_context(
    codec: VideoCodec, width_px: int, height_px: int, fps: int, settings: EncoderSettings
) -> av.VideoCodecContext:
    gop = max(1, round(settings.keyframe_interval_s * fps))
    bitrate = str(settings.bitrate_bps)
    if codec == "h264":
        context = av.CodecContext.create("libx264", "w")
        context.profile = "Baseline"
        options = {
            "preset": "veryfast",
            "tune": "zerolatency",
            "level": "31",
            # A forced picture becomes an IDR that a joining decoder can start from.
            "forced-idr": "1",
            "maxrate": bitrate,
            "bufsize": str(settings.bitrate_bps // 2),
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
        }
    else:
        context = av.CodecContext.create("libvpx", "w")
        context.qmin = 4
        context.qmax = 56
        options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "error-resilient": "1",
            "static-thresh": "100",
            "maxrate": bitrate,
            "minrate": bitrate,
            "bufsize": bitrate,
            "undershoot-pct": "95",
        }
    context.width = width_px
    context.height = height_px
    context.pix_fmt = "yuv420p"
    context.time_base = RTP_TIME_BASE
    context.framerate = Fraction(fps, 1)
    context.bit_rate = settings.bitrate_bps
    context.gop_size = gop
    context.thread_count = settings.threads or min(4, os.cpu_count() or 1)
    context.options = options
    context.open()
    return context
