"""What a stream reads from: a drone's own feed or a synthetic camera."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from web.video.camera_state import CameraState
from web.video.encoded_frame import EncodedFrame, VideoCodec
from web.video.synthetic_camera import CameraSettings
from web.video.timecode import TimeCode


@dataclass(frozen=True)
class DrawRequest:
    """What to draw for one synthetic frame; picklable, drawn by the encoding process."""

    state: CameraState
    code: TimeCode
    now_utc: datetime
    camera: CameraSettings


@dataclass(frozen=True)
class SourceFrame:
    """One picture from a source: as the drone encoded it, as pixels, or both.

    Pixels are only there when the reader asked for them: either decoded
    already (`i420`, planar YUV 4:2:0, H*3/2 x W) or described by `draw`, which
    the encoding process draws just before encoding. `packet` is only there
    when the source's own codec can be forwarded as is.
    """

    pts_90k: int
    clock_ms: int
    packet: EncodedFrame | None
    i420: npt.NDArray[np.uint8] | None = None
    draw: DrawRequest | None = None

    @property
    def has_picture(self) -> bool:
        return self.i420 is not None or self.draw is not None


class VideoSource(Protocol):
    """A live picture source, opened once and read frame by frame in real time."""

    @property
    def native_codec(self) -> VideoCodec | None:
        """The codec of packets forwarded without re-encoding, or None."""
        ...

    @property
    def description(self) -> str:
        """A short human-readable description (no credentials)."""
        ...

    async def open(self) -> None:
        """Connect to the feed; raises SourceOpenError."""
        ...

    async def read(self, want_picture: bool) -> SourceFrame:
        """Wait for the next frame; decode or draw pixels only if `want_picture`.

        Raises SourceEndedError when the feed ends or stalls.
        """
        ...

    async def close(self) -> None:
        """Release the feed; safe to call more than once."""
        ...
