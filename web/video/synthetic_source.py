"""A `VideoSource` that draws a simulated drone's camera in real time."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from web.video.camera_state import CameraSubject
from web.video.encoded_frame import RTP_CLOCK_HZ, VideoCodec
from web.video.errors import SourceEndedError
from web.video.synthetic_camera import CameraSettings
from web.video.timecode import TimeCode, wall_clock_ms
from web.video.video_source import DrawRequest, SourceFrame


class SyntheticSource:
    """Draws `settings.fps` frames per second of `subject`'s camera.

    Frames are paced on the monotonic clock; when the reader falls behind by
    more than a frame, frames are skipped rather than delivered late. A frame
    carries what to draw, not pixels: the stream's encoding process draws it,
    and only when someone watches, so an unwatched camera costs nothing.
    """

    def __init__(self, subject: CameraSubject, settings: CameraSettings | None = None) -> None:
        self._subject = subject
        self._settings = settings or CameraSettings()
        self._opened = False
        self._start_s = 0.0
        self._frame_index = 0
        self._closed = False
        self.frames_skipped = 0

    @property
    def native_codec(self) -> VideoCodec | None:
        return None

    @property
    def description(self) -> str:
        s = self._settings
        return f"synthetic camera {s.width_px}x{s.height_px}@{s.fps}"

    @property
    def settings(self) -> CameraSettings:
        return self._settings

    async def open(self) -> None:
        if not self._opened:
            self._opened = True
            self._start_s = time.monotonic()

    async def read(self, want_picture: bool) -> SourceFrame:
        if not self._opened or self._closed:
            raise SourceEndedError("synthetic camera is not open")
        period_s = 1.0 / self._settings.fps
        deadline_s = self._start_s + self._frame_index * period_s
        now_s = time.monotonic()
        if now_s - deadline_s > period_s:
            skipped = int((now_s - deadline_s) / period_s)
            self.frames_skipped += skipped
            self._frame_index += skipped
            deadline_s += skipped * period_s
        if deadline_s > now_s:
            await asyncio.sleep(deadline_s - now_s)
        index = self._frame_index
        self._frame_index += 1
        clock_ms = wall_clock_ms()
        now_utc = datetime.now(UTC)
        pts_90k = round((time.monotonic() - self._start_s) * RTP_CLOCK_HZ)
        if not want_picture:
            return SourceFrame(pts_90k=pts_90k, clock_ms=clock_ms, packet=None)
        # Ask the drone on the event loop; the encoding process does the drawing.
        draw = DrawRequest(
            state=self._subject.camera_state(),
            code=TimeCode(clock_ms, index),
            now_utc=now_utc,
            camera=self._settings,
        )
        return SourceFrame(pts_90k=pts_90k, clock_ms=clock_ms, packet=None, draw=draw)

    async def close(self) -> None:
        self._closed = True
