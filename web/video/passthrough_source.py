"""A `VideoSource` reading a drone's own feed (RTSP, UDP, RTMP, file) with PyAV.

When the feed is H.264 or VP8 its packets are forwarded exactly as the drone
encoded them: H.264 stored length-prefixed (MP4, MKV, FLV) goes through
FFmpeg's `h264_mp4toannexb` filter, and parameter sets carried out of band
are put in front of keyframes that lack them. Pixels are decoded only when
some viewer needs another codec.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.bitstream import BitStreamFilterContext

from web.video.encoded_frame import RTP_CLOCK_HZ, EncodedFrame, VideoCodec, as_video_codec
from web.video.errors import SourceEndedError, SourceOpenError
from web.video.timecode import wall_clock_ms
from web.video.video_source import SourceFrame

logger = logging.getLogger(__name__)

_START_CODE = b"\x00\x00\x01"
_NAL_SPS = 7


def h264_nal_types(annexb: bytes) -> list[int]:
    """The NAL unit types in an Annex-B buffer, in order.

    >>> h264_nal_types(b"\\x00\\x00\\x00\\x01\\x67\\x42\\x00\\x00\\x01\\x68\\xce")
    [7, 8]
    """
    types = []
    index = annexb.find(_START_CODE)
    while index != -1 and index + 3 < len(annexb):
        types.append(annexb[index + 3] & 0x1F)
        index = annexb.find(_START_CODE, index + 3)
    return types


def is_file_url(url: str) -> bool:
    """Whether `url` names a file (a path, file://, or a Windows drive) and not a feed.

    >>> is_file_url("/srv/feed.mkv"), is_file_url("rtsp://cam.example/1")
    (True, False)
    """
    scheme = urlsplit(url).scheme
    return scheme in ("", "file") or len(scheme) == 1  # a drive letter


def h264_parameter_sets(annexb: bytes) -> bytes:
    """The SPS and PPS NAL units of an Annex-B buffer, each after a 4-byte start code."""
    units = annexb.replace(b"\x00\x00\x00\x01", _START_CODE).split(_START_CODE)
    kept = [u for u in units if u and u[0] & 0x1F in (_NAL_SPS, _NAL_SPS + 1)]
    return b"".join(b"\x00\x00\x00\x01" + u for u in kept)


class PassthroughSource:
    """Reads one video stream from `url` and forwards its packets.

    `realtime` paces reading by the packets' timestamps; it defaults to True
    for files (which would otherwise be read at disk speed) and False for
    live feeds. `loop` restarts a file at its end. `reconnect_s` (default:
    2 s for network feeds, None for files) keeps trying a feed that is down or
    drops, every so many seconds, instead of ending: a docked drone's camera is
    off until launch. Timestamps continue across reconnections and loops. `kind` names
    the feed in messages ("drone feed", "camera feed").
    """

    def __init__(
        self,
        url: str | Path,
        *,
        realtime: bool | None = None,
        loop: bool = False,
        options: Mapping[str, str] | None = None,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        reconnect_s: float | None | Literal["auto"] = "auto",
        kind: str = "drone feed",
    ) -> None:
        self._url = str(url)
        self._kind = kind
        is_file = is_file_url(self._url)
        self._realtime = is_file if realtime is None else realtime
        self._reconnect_s = (None if is_file else 2.0) if reconnect_s == "auto" else reconnect_s
        self._loop = loop
        self._options = dict(options or {})
        self._open_timeout_s = open_timeout_s
        self._read_timeout_s = read_timeout_s
        self._executor: ThreadPoolExecutor | None = None
        self._container: av.container.InputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._packets: Iterator[av.Packet] | None = None
        self._filter: BitStreamFilterContext | None = None
        self._parameter_sets = b""
        self._codec: VideoCodec | None = None
        self._decoding = False
        self._resume_90k = 0  # where the current connection's timestamps start
        self._raw_base_90k: int | None = None
        self._last_pts_90k = -RTP_CLOCK_HZ // 30
        self._pace_origin_s: float | None = None
        self.packets_forwarded = 0

    @property
    def native_codec(self) -> VideoCodec | None:
        return self._codec

    @property
    def description(self) -> str:
        parts = urlsplit(self._url)
        # Never show credentials embedded in an RTSP URL.
        host = parts.hostname or ""
        where = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else self._url
        return f"{self._kind} {where}"

    async def open(self) -> None:
        """Connect; raises SourceOpenError, unless reconnecting, which retries in `read`."""
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed")
        try:
            await self._connect()
        except SourceOpenError as exc:
            if self._reconnect_s is None:
                raise
            logger.warning("%s; retrying every %s s", exc, self._reconnect_s)

    async def read(self, want_picture: bool) -> SourceFrame:
        if self._executor is None:
            raise SourceEndedError(f"{self.description} is not open")
        while True:
            try:
                if self._container is None:
                    await self._connect()
                async with asyncio.timeout(self._read_timeout_s):
                    packet, i420 = await self._run(self._next_blocking, want_picture)
                break
            except (SourceOpenError, SourceEndedError, TimeoutError) as exc:
                if self._reconnect_s is None:
                    if isinstance(exc, TimeoutError):
                        raise SourceEndedError(
                            f"{self.description}: no frame for {self._read_timeout_s} s"
                        ) from exc
                    raise
                logger.warning("%s: %s; reconnecting", self.description, exc or "stalled")
                await self._disconnect()
                await asyncio.sleep(self._reconnect_s)
        if self._realtime:
            await self._pace(packet.pts_90k)
        return SourceFrame(
            pts_90k=packet.pts_90k,
            clock_ms=packet.clock_ms,
            # A codec browsers cannot take as is (HEVC, MPEG-4...) is only decoded.
            packet=packet if self._codec is not None else None,
            i420=i420,
        )

    async def _connect(self) -> None:
        try:
            async with asyncio.timeout(self._open_timeout_s):
                await self._run(self._open_blocking)
        except TimeoutError as exc:
            raise SourceOpenError(
                f"{self.description}: no answer within {self._open_timeout_s} s"
            ) from exc

    async def _disconnect(self) -> None:
        container, self._container = self._container, None
        self._packets = None
        if container is not None:
            await self._run(container.close)
        self._continue_timestamps()

    def _continue_timestamps(self) -> None:
        # The next packets, whatever their own timestamps, follow the last one.
        self._resume_90k = self._last_pts_90k + RTP_CLOCK_HZ // 30
        self._raw_base_90k = None

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        container, self._container = self._container, None
        if container is not None:
            await asyncio.get_running_loop().run_in_executor(executor, container.close)
        await asyncio.to_thread(executor.shutdown, True)

    async def _run(self, function, *args):  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    async def _pace(self, pts_90k: int) -> None:
        pts_s = pts_90k / RTP_CLOCK_HZ
        now_s = time.monotonic()
        if self._pace_origin_s is None or now_s - (self._pace_origin_s + pts_s) > 1.0:
            self._pace_origin_s = now_s - pts_s
        delay_s = self._pace_origin_s + pts_s - now_s
        if delay_s > 0:
            await asyncio.sleep(delay_s)

    def _open_blocking(self) -> None:
        try:
            container = av.open(
                self._url,
                options=self._options,
                timeout=(self._open_timeout_s, self._read_timeout_s),
            )
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceOpenError(f"{self.description}: {self._scrubbed(exc)}") from None
        if not container.streams.video:
            container.close()
            raise SourceOpenError(f"{self.description}: no video stream")
        stream = container.streams.video[0]
        self._container = container
        self._stream = stream
        self._codec = as_video_codec(stream.codec_context.name)
        self._filter = None
        self._parameter_sets = b""
        extradata = stream.codec_context.extradata or b""
        if self._codec == "h264":
            if extradata[:1] == b"\x01":
                self._filter = BitStreamFilterContext("h264_mp4toannexb", stream)
            elif _START_CODE in extradata[:4]:
                self._parameter_sets = extradata
        self._decoding = self._codec is None
        self._packets = container.demux(stream)

    def _next_blocking(
        self, want_picture: bool
    ) -> tuple[EncodedFrame, npt.NDArray[np.uint8] | None]:
        assert self._stream is not None
        self._decoding = self._decoding or want_picture
        while True:
            packet = self._next_packet()
            # Read before filtering: the filter takes the packet's contents.
            keyframe = bool(packet.is_keyframe)
            i420 = self._decode(packet) if self._decoding else None
            for out in self._filter.filter(packet) if self._filter else [packet]:
                frame = self._to_frame(out, keyframe or bool(out.is_keyframe))
                if frame is not None:
                    return frame, i420

    def _scrubbed(self, exc: Exception) -> str:
        # FFmpeg's messages name the URL, with any password in it: never pass that on.
        parts = urlsplit(self._url)
        text = str(exc).replace(self._url, self.description)
        return text.replace(parts.password, "***") if parts.password else text

    def _next_packet(self) -> av.Packet:
        try:
            return self._demux_next()
        except av.error.FFmpegError as exc:
            raise SourceEndedError(f"{self.description}: {self._scrubbed(exc)}") from None

    def _demux_next(self) -> av.Packet:
        assert self._packets is not None
        assert self._container is not None
        for packet in self._packets:
            if packet.size:
                return packet
        if not self._loop:
            raise SourceEndedError(f"{self.description} ended")
        self._continue_timestamps()
        self._container.seek(0)
        self._packets = self._container.demux(self._stream)
        for packet in self._packets:
            if packet.size:
                return packet
        raise SourceEndedError(f"{self.description} has no packets")

    def _to_frame(self, packet: av.Packet, keyframe: bool) -> EncodedFrame | None:
        assert self._stream is not None
        timestamp = packet.pts if packet.pts is not None else packet.dts
        if timestamp is None or packet.time_base is None:
            return None
        raw_90k = round(timestamp * packet.time_base * RTP_CLOCK_HZ)
        if self._raw_base_90k is None:
            self._raw_base_90k = raw_90k
        pts_90k = self._resume_90k + raw_90k - self._raw_base_90k
        self._last_pts_90k = pts_90k
        data = bytes(packet)
        if keyframe and self._codec == "h264":
            if _NAL_SPS in h264_nal_types(data[:64]):
                # Parameter sets sent in-band: keep the latest for keyframes without them
                # (an I-frame that is not an IDR is flagged a keyframe too).
                self._parameter_sets = h264_parameter_sets(data) or self._parameter_sets
            elif self._parameter_sets:
                data = self._parameter_sets + data
        self.packets_forwarded += 1
        context = self._stream.codec_context
        return EncodedFrame(
            # Placeholder codec for feeds that are decoded, never forwarded.
            codec=self._codec or "h264",
            data=data,
            pts_90k=pts_90k,
            keyframe=keyframe,
            clock_ms=wall_clock_ms(),
            width_px=context.width,
            height_px=context.height,
        )

    def _decode(self, packet: av.Packet) -> npt.NDArray[np.uint8] | None:
        assert self._stream is not None
        try:
            pictures = self._stream.codec_context.decode(packet)
        except av.error.InvalidDataError:
            # Joining mid-GOP: undecodable until the next keyframe.
            return None
        if not pictures:
            return None
        picture = pictures[-1]
        if picture.format.name != "yuv420p":
            picture = picture.reformat(format="yuv420p")
        return cast("npt.NDArray[np.uint8]", picture.to_ndarray())
