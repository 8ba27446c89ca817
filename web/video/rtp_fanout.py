"""One feed's RTP to every viewer: packets built once per frame, encrypted per viewer.

aiortc gives every viewer an RTCRtpSender whose loop wakes for each frame,
builds each RTP packet (header, extensions, two wall-clock reads) and sends
it down three layers of coroutines. With a hundred viewers of one stream
that per-viewer Python, not the encoder, is what a core runs out of. Here
one loop per feed sends instead: each frame is split into RTP payloads once
and serialized once per wire format (payload type, header extension ids and
mid, which each viewer's offer fixes: every Chromium viewer shares one), and
per viewer only SRTP protection and the UDP send remain.

All viewers of a feed share the SSRC, sequence numbers and RTP timestamps.
That is legal, each peer connection being its own RTP session, and it makes
their plaintext packets identical, so they also share the history that NACKs
are answered from.

Each viewer's RTCRtpSender still negotiates, sends RTCP sender reports (from
counters kept here) and hands PLI/FIR to the shared encoder; its NACKs are
answered here, from the shared history; its own RTP loop waits on a track
that never yields. The hooks into aiortc's private state are in this module
only, pinned to the aiortc version in pyproject and exercised by tests/video.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from aiortc import RTCRtpParameters, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import (
    RTP_HISTORY_SIZE,
    HeaderExtensions,
    HeaderExtensionsMap,
    RtpPacket,
    wrap_rtx,
)

from web.video.encoded_frame import EncodedFrame, VideoCodec
from web.video.errors import StreamClosedError
from web.video.fanout import Subscription


class _UdpTransport(Protocol):
    """A viewer's UDP socket as asyncio's selector loop gives it: unlike the declared
    `asyncio.DatagramTransport`, it counts the bytes not yet sent."""

    def get_write_buffer_size(self) -> int: ...

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None: ...

    def is_closing(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class _ThroughTurn:
    """The path through the relay's own TURN allocation (aioice's TurnTransport, when
    ICE nominated the relay's TURN candidate): it hands each datagram to its socket to
    the TURN server, and drops what is sent once closed."""

    turn: Any

    def get_write_buffer_size(self) -> int:
        # That socket is this viewer's alone: what it has not sent is the viewer's backlog.
        inner = getattr(self.turn, "_TurnTransport__inner_protocol", None)
        socket = getattr(inner, "transport", None)
        count = getattr(socket, "get_write_buffer_size", None)
        return int(count()) if count is not None else 0

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.turn.sendto(data, addr)

    def is_closing(self) -> bool:
        return False


logger = logging.getLogger(__name__)

# A viewer whose socket has this much unsent (on top of what the kernel holds;
# ~0.7 s at 1.5 Mbit/s) is not keeping up: it skips to the next keyframe
# instead of watching ever older video.
MAX_UNSENT_BYTES = 128 * 1024
# Viewers served between two yields to the event loop (HTTP, RTCP, ICE).
_VIEWERS_PER_SLICE = 25
_NTP_EPOCH_OFFSET_NS = 2_208_988_800 * 1_000_000_000


def first_sequence_number() -> int:
    """A random first RTP sequence number, in the lower half as aiortc's: early
    wraparounds upset SRTP receivers."""
    return secrets.randbelow(1 << 15)


def ntp_time() -> int:
    """The wall clock as a 64-bit NTP timestamp (aiortc's clock, without datetime)."""
    return (time.time_ns() + _NTP_EPOCH_OFFSET_NS) * (1 << 32) // 1_000_000_000


class IdleTrack(MediaStreamTrack):
    """The track a viewer's sender holds: the fan-out sends, so recv() only
    waits for the viewer to leave. An audio one stands for the sound dfr does
    not have, so that a viewer offering audio gets a `sendonly` audio section."""

    kind = "video"

    def __init__(self, kind: str = "video") -> None:
        super().__init__()
        self.kind = kind
        self._stopped = asyncio.Event()

    async def recv(self) -> None:  # type: ignore[override]
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._stopped.set()


@dataclass(eq=False)
class _WireFormat:
    """How one group of viewers' offers lay out RTP packets, and their shared history."""

    payload_type: int
    mid: str | None
    extensions: HeaderExtensionsMap
    history: dict[int, RtpPacket] = field(default_factory=dict)
    packets: list[bytes] = field(default_factory=list)  # the current frame, serialized
    next_sequence: int = 0  # the shared sequence number after the current frame's

    def serialize(
        self, payloads: list[bytes], first_sequence: int, timestamp: int, ssrc: int, abs_send: int
    ) -> None:
        self.packets = []
        last = len(payloads) - 1
        for index, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=self.payload_type,
                marker=int(index == last),
                sequence_number=(first_sequence + index) & 0xFFFF,
                timestamp=timestamp,
                ssrc=ssrc,
                payload=payload,
            )
            packet.extensions.mid = self.mid
            packet.extensions.abs_send_time = abs_send
            self.history[packet.sequence_number % RTP_HISTORY_SIZE] = packet
            self.packets.append(packet.serialize(self.extensions))
        self.next_sequence = (first_sequence + len(payloads)) & 0xFFFF


def _format_key(payload_type: int, mid: str | None, extensions: HeaderExtensionsMap) -> object:
    # Two maps are the same wire format when they lay out the same extensions alike.
    return payload_type, mid, extensions.set(HeaderExtensions(mid=mid, abs_send_time=0))


class ViewerLane:
    """One viewer's end of a fan-out: its sender's SRTP session and UDP path.

    A viewer that skips frames (its socket backed up, or it waits for a
    keyframe after that) sees no gap: its sequence numbers are the shared
    ones minus the packets it skipped, so it neither reports loss nor asks
    for the skipped packets again.
    """

    def __init__(self, transceiver: RTCRtpTransceiver, track: IdleTrack, wire: _WireFormat) -> None:
        self.sender: RTCRtpSender = transceiver.sender
        self.wire = wire
        self.track = track
        self.frames_delivered = 0
        self.frames_dropped = 0  # not sent once started: the viewer could not keep up
        self.failed = False
        self.left = False
        self._dtls = self.sender.transport
        self._ice_connection = self._dtls.transport._connection
        self._rtx_payload_type = next(
            (
                c.payloadType
                for c in transceiver._codecs
                if c.mimeType.lower() == "video/rtx"
                and str(c.parameters.get("apt")) == str(wire.payload_type)
            ),
            None,
        )
        self._rtx_sequence = secrets.randbelow(1 << 15)
        self._waiting_keyframe = True
        self._asked_keyframe = False
        self._started = False
        self._sequence_offset = 0  # shared sequence number - this viewer's
        # This viewer's first sequence number with that offset (None: never skipped).
        self._offset_since: int | None = None
        self._next_sequence = 0  # this viewer's next sequence number
        # NACKs: answered here, from the history this lane's wire format shares.
        self.sender._retransmit = self._retransmit  # type: ignore[method-assign]

    @property
    def connected(self) -> bool:
        return self._dtls._state is DtlsState.CONNECTED

    def send(self, frame: EncodedFrame, payload_octets: int, ntp: int, timestamp: int) -> bool:
        """Send the frame's packets (serialized in `wire`); False if a keyframe is needed."""
        packets = self.wire.packets
        path = self._path()
        if path is None:
            self._skip(packets)
            return True
        transport, address = path
        if transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            # Resume at a keyframe, asked for once the socket has drained.
            self._skip(packets)
            self._waiting_keyframe, self._asked_keyframe = True, False
            return True
        if self._waiting_keyframe and not frame.keyframe:
            self._skip(packets)
            wants_keyframe, self._asked_keyframe = not self._asked_keyframe, True
            return not wants_keyframe
        self._waiting_keyframe = False
        protect = self._dtls._tx_srtp.protect
        offset = self._sequence_offset
        for packet in packets:
            transport.sendto(protect(_renumbered(packet, offset) if offset else packet), address)
        self._started = True
        self._next_sequence = (self.wire.next_sequence - offset) & 0xFFFF
        self.frames_delivered += 1
        # What the sender's RTCP sender reports tell the viewer.
        sender = self.sender
        sender._RTCRtpSender__ntp_timestamp = ntp  # type: ignore[attr-defined]
        sender._RTCRtpSender__rtp_timestamp = timestamp  # type: ignore[attr-defined]
        sender._RTCRtpSender__packet_count += len(packets)  # type: ignore[attr-defined]
        sender._RTCRtpSender__octet_count += payload_octets  # type: ignore[attr-defined]
        return True

    def _path(self) -> tuple[_UdpTransport, tuple[str, int]] | None:
        if self.failed or self.left or not self.connected:
            return None
        pair = self._ice_connection._nominated.get(1)
        if pair is None:
            return None
        transport = pair.protocol.transport
        if transport is None:
            return None
        if not hasattr(transport, "get_write_buffer_size"):
            return _ThroughTurn(transport), pair.remote_addr
        if transport.is_closing():
            return None
        return cast(_UdpTransport, transport), pair.remote_addr

    def _skip(self, packets: list[bytes]) -> None:
        if self._started:
            self.frames_dropped += 1
            self._sequence_offset = (self._sequence_offset + len(packets)) & 0xFFFF
            self._offset_since = self._next_sequence

    async def _retransmit(self, sequence_number: int) -> None:
        since = self._offset_since
        if since is not None and (sequence_number - since) & 0xFFFF >= 0x8000:
            return  # sent before frames were skipped: the viewer waits for a keyframe
        shared = (sequence_number + self._sequence_offset) & 0xFFFF
        packet = self.wire.history.get(shared % RTP_HISTORY_SIZE)
        path = self._path()
        if packet is None or packet.sequence_number != shared or path is None:
            return
        transport, address = path
        if transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            return
        again = RtpPacket(
            payload_type=packet.payload_type,
            marker=packet.marker,
            sequence_number=sequence_number,
            timestamp=packet.timestamp,
            ssrc=packet.ssrc,
            payload=packet.payload,
        )
        again.extensions = packet.extensions
        if self._rtx_payload_type is not None:
            again = wrap_rtx(
                again,
                payload_type=self._rtx_payload_type,
                sequence_number=self._rtx_sequence,
                ssrc=self.sender._rtx_ssrc,
            )
            self._rtx_sequence = (self._rtx_sequence + 1) & 0xFFFF
        data = again.serialize(self.wire.extensions)
        transport.sendto(self._dtls._tx_srtp.protect(data), address)


def _renumbered(packet: bytes, offset: int) -> bytes:
    data = bytearray(packet)
    sequence_number = int.from_bytes(data[2:4], "big")
    data[2:4] = ((sequence_number - offset) & 0xFFFF).to_bytes(2, "big")
    return bytes(data)


class RtpFanout:
    """Sends the frames of one subscription to every viewer lane that joins it.

    Use from the event loop only. `ended` once the feed has ended; `close()`
    stops sending and closes the subscription.
    """

    def __init__(self, subscription: Subscription, name: str) -> None:
        self.codec: VideoCodec = subscription.codec
        self.ssrc = secrets.randbits(32)
        self.ended = False
        self._subscription = subscription
        self._sequence = first_sequence_number()
        self._timestamp_origin = secrets.randbits(32)
        self._vp8_picture_id = secrets.randbelow(1 << 15)
        self._formats: dict[object, _WireFormat] = {}
        self._lanes: list[ViewerLane] = []
        self._task = asyncio.create_task(self._run(), name=f"rtp-fanout-{name}")

    @property
    def lane_count(self) -> int:
        return len(self._lanes)

    @property
    def wire_format_count(self) -> int:
        """How many packet layouts each frame is serialized in (one per kind of viewer)."""
        return len(self._formats)

    def prepare(self, sender: RTCRtpSender) -> None:
        """Ready a new viewer's sender before its answer is made: it announces
        the feed's SSRC, and its viewer's PLI/FIR reach the shared encoder."""
        sender._ssrc = self.ssrc
        # aiortc would flag its own per-viewer encoder, which nothing here uses.
        sender._send_keyframe = self._subscription.request_keyframe  # type: ignore[method-assign]

    def join(self, transceiver: RTCRtpTransceiver, track: IdleTrack) -> ViewerLane:
        """Start sending to a negotiated viewer (from its next keyframe)."""
        extensions = HeaderExtensionsMap()
        extensions.configure(RTCRtpParameters(headerExtensions=transceiver._headerExtensions))
        payload_type = transceiver._codecs[0].payloadType
        assert payload_type is not None, "joined before the answer was negotiated"
        key = _format_key(payload_type, transceiver.mid, extensions)
        wire = self._formats.get(key)
        if wire is None:
            wire = self._formats[key] = _WireFormat(payload_type, transceiver.mid, extensions)
        lane = ViewerLane(transceiver, track, wire)
        # Its keyframe is asked for once it can receive one (see ViewerLane.send).
        self._lanes.append(lane)
        return lane

    def leave(self, lane: ViewerLane) -> None:
        """Stop sending to `lane`; safe to call more than once."""
        with contextlib.suppress(ValueError):
            self._lanes.remove(lane)
        lane.left = True
        lane.track.stop()
        if not any(other.wire is lane.wire for other in self._lanes):
            self._formats = {k: w for k, w in self._formats.items() if w is not lane.wire}

    async def close(self) -> None:
        """Stop sending and release the feed; safe to call more than once."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._subscription.close()

    async def _run(self) -> None:
        try:
            while True:
                frame = await self._subscription.next_frame()
                await self._send(frame)
        except StreamClosedError:
            logger.info("%s feed ended", self.codec)
        finally:
            self.ended = True

    async def _send(self, frame: EncodedFrame) -> None:
        payloads = self._split(frame)
        if not payloads:
            return
        timestamp = (self._timestamp_origin + frame.pts_90k) & 0xFFFFFFFF
        first_sequence = self._sequence
        self._sequence = (first_sequence + len(payloads)) & 0xFFFF
        ntp = ntp_time()
        abs_send = (ntp >> 14) & 0x00FFFFFF
        for wire in self._formats.values():
            wire.serialize(payloads, first_sequence, timestamp, self.ssrc, abs_send)
        octets = sum(len(p) for p in payloads)
        keyframe_wanted = False
        for index, lane in enumerate(tuple(self._lanes)):
            try:
                keyframe_wanted |= not lane.send(frame, octets, ntp, timestamp)
            except Exception:  # one viewer's failure must not stop the others
                logger.exception("sending to a viewer failed; it will be hung up")
                lane.failed = True
            if index % _VIEWERS_PER_SLICE == _VIEWERS_PER_SLICE - 1:
                await asyncio.sleep(0)
        if keyframe_wanted:
            self._subscription.request_keyframe()

    def _split(self, frame: EncodedFrame) -> list[bytes]:
        if frame.codec == "h264":
            return H264Encoder._packetize(H264Encoder._split_bitstream(frame.data))
        payloads = Vp8Encoder._packetize(frame.data, self._vp8_picture_id)
        self._vp8_picture_id = (self._vp8_picture_id + 1) % (1 << 15)
        return payloads
