"""The relay's media track: shared encoded frames into aiortc's RTP sender.

With `relay.py`, the only module that imports aiortc. Each viewer's sender
gets a `PacketTrack` whose `recv()` returns the stream's already-encoded
frames as `av.Packet`s, which aiortc only packetizes; the RTP payloads of a
frame are even split once for all viewers. Two hooks reach into aiortc's
sender, pinned to the aiortc version in pyproject.
"""

from __future__ import annotations

from collections.abc import Callable

import av
from aiortc import RTCRtpSender
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from web.video.encoded_frame import RTP_TIME_BASE, EncodedFrame
from web.video.errors import StreamClosedError
from web.video.fanout import Subscription


class PayloadCache:
    """RTP payloads of recent frames, split once and shared by every viewer."""

    def __init__(self, size: int = 8) -> None:
        self._entries: dict[int, tuple[EncodedFrame, list[bytes]]] = {}
        self._size = size
        self._vp8_picture_id = 0

    def payloads(self, frame: EncodedFrame) -> list[bytes]:
        entry = self._entries.get(id(frame))
        if entry is not None and entry[0] is frame:
            return entry[1]
        if frame.codec == "h264":
            payloads = H264Encoder._packetize(H264Encoder._split_bitstream(frame.data))
        else:
            payloads = Vp8Encoder._packetize(frame.data, self._vp8_picture_id)
            self._vp8_picture_id = (self._vp8_picture_id + 1) % (1 << 15)
        if len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        self._entries[id(frame)] = (frame, payloads)
        return payloads


class SharedPacker:
    """Stands in for the viewer's aiortc codec, which would split every frame again."""

    def __init__(self, track: PacketTrack, cache: PayloadCache) -> None:
        self._track = track
        self._cache = cache

    def pack(self, packet: av.Packet) -> tuple[list[bytes], int]:
        # The sender calls pack() right after recv(), with no await in between.
        frame = self._track.last_frame
        if frame is None:
            return [], 0
        return self._cache.payloads(frame), frame.pts_90k


class PacketTrack(MediaStreamTrack):
    """A video track whose frames are shared encoded packets, not pictures."""

    kind = "video"

    def __init__(self, subscription: Subscription) -> None:
        super().__init__()
        self._subscription = subscription
        self.last_frame: EncodedFrame | None = None

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        try:
            frame = await self._subscription.next_frame()
        except StreamClosedError as exc:
            self.stop()
            raise MediaStreamError from exc
        self.last_frame = frame
        packet = av.Packet(frame.data)
        packet.pts = frame.pts_90k
        packet.time_base = RTP_TIME_BASE
        return packet

    def stop(self) -> None:
        super().stop()
        self._subscription.close()


def route_keyframe_requests(sender: RTCRtpSender, request: Callable[[], None]) -> None:
    # aiortc answers a viewer's PLI/FIR by flagging its own per-viewer encoder,
    # which pre-encoded packets bypass: send the request to the shared one.
    sender._send_keyframe = request  # type: ignore[method-assign]


def share_packetization(sender: RTCRtpSender, packer: SharedPacker) -> None:
    # aiortc builds a codec per viewer only to split each pre-encoded frame into
    # RTP payloads; the split is the same for every viewer, so do it once.
    sender._RTCRtpSender__encoder = packer  # type: ignore[attr-defined]
