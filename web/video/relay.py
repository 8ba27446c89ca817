"""The WebRTC relay: one aiortc peer connection per viewer, all fed the same packets.

With `rtp_fanout.py` (and the test viewer client), the only module that
imports aiortc. aiortc negotiates, runs ICE, DTLS and RTCP for each viewer;
the sending is `RtpFanout`'s: one loop per stream and codec builds each RTP
packet once and sends it, encrypted, to every viewer. aiortc's errors are
translated into ours in `open_session`.

A viewer session is reaped when its connection fails or closes (ICE consent
lost included), when it never connects, or when its stream ends. Whoever opened
a session may ask to be told when it ends, and why (`open_session(on_end=...)`):
once, whether the viewer left, was reaped or the relay stopped. A session the relay
ended (reaped, or hung up on with a reason) is remembered a while, so the viewer's own
DELETE of it, which may come a moment later, is answered as done rather than unknown.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Self

import aioice.ice
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError

from web.video.catalog import StreamCatalog
from web.video.encoded_frame import VIDEO_CODECS, VideoCodec
from web.video.errors import (
    InvalidOfferError,
    NoCommonCodecError,
    RelayFullError,
    StreamClosedError,
    UnknownSessionError,
)
from web.video.ice_servers import IceServers
from web.video.rtp_fanout import IdleTrack, RtpFanout, ViewerLane
from web.video.stream import VideoStream

logger = logging.getLogger(__name__)

# What a malformed offer makes aiortc's SDP parser and negotiation raise.
_OFFER_ERRORS = (
    ValueError,
    AssertionError,
    IndexError,
    KeyError,
    InvalidAccessError,
    InvalidStateError,
    OperationError,
)
_DEAD_STATES = ("failed", "closed")

SessionEnded = Callable[[str], Awaitable[None]]
"""Told once, with the reason, when a viewer session ends."""

LEFT = "the viewer left (WHEP DELETE)"
#: Sessions the relay ended itself, remembered so that their viewers' DELETEs succeed.
ENDED_REMEMBERED = 1024
RELAY_STOPPED = "the server stopped"
#: Who the relay's own TURN credentials name.
RELAY_PEER = "dfr-relay"


@dataclass(frozen=True)
class RelaySettings:
    """Viewer limits and timeouts; `ice_addresses` restricts local ICE candidates.

    `ice_addresses=("127.0.0.1",)` keeps all media on loopback (tests, and a
    relay behind a local reverse proxy); None gathers every interface. With
    `ice_servers`, the relay also offers its address as a STUN server sees it and a
    TURN relay's, for viewers who cannot reach it directly.
    """

    codec_preference: tuple[VideoCodec, ...] = VIDEO_CODECS
    ice_addresses: tuple[str, ...] | None = None
    ice_servers: IceServers = IceServers()
    max_viewers_per_stream: int = 200
    negotiation_timeout_s: float = 10.0
    connect_timeout_s: float = 20.0
    close_timeout_s: float = 5.0
    reap_interval_s: float = 1.0


@dataclass(frozen=True)
class WhepAnswer:
    """The relay's answer to a viewer's offer."""

    stream_id: str
    session_id: str
    sdp: str
    codec: VideoCodec


@dataclass(frozen=True)
class SessionInfo:
    """One viewer session as shown by the API."""

    stream_id: str
    session_id: str
    codec: VideoCodec
    connection_state: str
    age_s: float
    frames_delivered: int
    frames_dropped: int  # dropped because the viewer fell behind


# One fan-out per stream and codec; per viewer when the stream encodes per viewer.
_FanoutKey = tuple[str, ...]


@dataclass
class _Session:
    stream_id: str
    session_id: str
    codec: VideoCodec
    pc: RTCPeerConnection
    fanout_key: _FanoutKey
    created_s: float
    lane: ViewerLane | None = None  # once negotiated
    on_end: SessionEnded | None = None  # once answered
    silence: IdleTrack | None = None  # the audio track of a viewer that offered audio


_DEFAULT_HOST_ADDRESSES = aioice.ice.get_host_addresses


def use_ice_addresses(addresses: tuple[str, ...] | None) -> None:
    """Gather local ICE candidates only on `addresses` (None: every interface).

    aioice never offers loopback and has no per-connection setting, so this
    swaps its address lookup for the whole process.
    """
    if addresses is None:
        aioice.ice.get_host_addresses = _DEFAULT_HOST_ADDRESSES
        return
    allowed = tuple(addresses)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in allowed if (use_ipv6 if ":" in a else use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses


def offered_codecs(offer_sdp: str) -> tuple[VideoCodec, ...]:
    """Codecs a viewer's offer can receive, in the offer's order.

    Raises InvalidOfferError when the SDP does not parse or has no video
    section able to receive.
    """
    try:
        description = aiortc_sdp.SessionDescription.parse(offer_sdp)
    except _OFFER_ERRORS as exc:
        raise InvalidOfferError(f"SDP offer does not parse: {exc or type(exc).__name__}") from exc
    found: list[VideoCodec] = []
    receivers = [
        m
        for m in description.media
        if m.kind == "video" and m.direction in (None, "sendrecv", "recvonly")
    ]
    if not receivers:
        raise InvalidOfferError("SDP offer has no video section that can receive")
    for codec in receivers[0].rtp.codecs:
        name = _relay_codec(codec.mimeType, codec.parameters)
        if name is not None and name not in found:
            found.append(name)
    return tuple(found)


def _offers_audio(offer_sdp: str) -> bool:
    """Whether the offer has an audio section that can receive (parsed before)."""
    description = aiortc_sdp.SessionDescription.parse(offer_sdp)
    return any(
        m.kind == "audio" and m.direction in (None, "sendrecv", "recvonly")
        for m in description.media
    )


def whep_answer(answer_sdp: str) -> str:
    r"""aiortc's answer with `a=rtcp-mux-only` beside each `a=rtcp-mux`.

    The WHEP draft (section "SDP Bundle") asks endpoints to mark every bundled media
    section so; RFC 8858 keeps the attribute for offers, and browsers read an answer's
    as the harmless statement it is here: the relay never sends RTCP on its own port.

    >>> whep_answer("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtcp-mux\r\na=sendonly\r\n")
    'm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtcp-mux\r\na=rtcp-mux-only\r\na=sendonly\r\n'
    """
    lines = []
    for line in answer_sdp.splitlines():
        lines.append(line)
        if line == "a=rtcp-mux":
            lines.append("a=rtcp-mux-only")
    return "\r\n".join(lines) + "\r\n"


def _relay_codec(mime_type: str, parameters: Mapping[str, object]) -> VideoCodec | None:
    mime = mime_type.lower()
    if mime == "video/vp8":
        return "vp8"
    if mime == "video/h264":
        # The shared encoder sends Baseline with packetization mode 1.
        profile = str(parameters.get("profile-level-id", "42e01f")).lower()
        if str(parameters.get("packetization-mode", "0")) == "1" and profile.startswith("42"):
            return "h264"
    return None


def _capabilities(codec: VideoCodec) -> list[RTCRtpCodecCapability]:
    available = RTCRtpSender.getCapabilities("video").codecs
    mime = "video/vp8" if codec == "vp8" else "video/h264"
    chosen = [c for c in available if c.mimeType.lower() == mime]
    # Constrained Baseline first: that is what browsers prefer for Baseline.
    chosen.sort(key=lambda c: str(c.parameters.get("profile-level-id", "")) != "42e01f")
    return chosen + [c for c in available if c.mimeType.lower() == "video/rtx"]


def _filter_candidates(offer_sdp: str, allowed: tuple[str, ...]) -> str:
    """Drop remote candidates outside `allowed` (and mDNS names, never resolved)."""
    lines = []
    for line in offer_sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) < 5 or fields[4] not in allowed:
                continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"


class VideoRelay:
    """Serves the catalog's streams to WebRTC viewers; an async context manager."""

    def __init__(self, catalog: StreamCatalog, settings: RelaySettings | None = None) -> None:
        self.catalog = catalog
        self.settings = settings or RelaySettings()
        self._sessions: dict[str, _Session] = {}
        self._fanouts: dict[_FanoutKey, RtpFanout] = {}
        self._wakeup = asyncio.Event()
        self._reaper: asyncio.Task[None] | None = None
        self._opening: collections.Counter[str] = collections.Counter()
        #: Sessions the relay ended, newest last: session id → stream id.
        self._ended: collections.OrderedDict[str, str] = collections.OrderedDict()

    async def start(self) -> None:
        if self._reaper is None:
            if self.settings.ice_addresses is not None:
                use_ice_addresses(self.settings.ice_addresses)
            self._reaper = asyncio.create_task(self._reap_forever(), name="video-relay-reaper")

    async def close(self) -> None:
        """Hang up on every viewer; safe to call more than once."""
        reaper, self._reaper = self._reaper, None
        if reaper is not None:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
        while self._sessions:
            _, session = self._sessions.popitem()
            await self._hang_up(session, RELAY_STOPPED)
        while self._fanouts:
            _, fanout = self._fanouts.popitem()
            await fanout.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def sessions(self, stream_id: str | None = None) -> list[SessionInfo]:
        now_s = time.monotonic()
        return [
            SessionInfo(
                stream_id=s.stream_id,
                session_id=s.session_id,
                codec=s.codec,
                connection_state=s.pc.connectionState,
                age_s=now_s - s.created_s,
                frames_delivered=s.lane.frames_delivered if s.lane else 0,
                frames_dropped=s.lane.frames_dropped if s.lane else 0,
            )
            for s in self._sessions.values()
            if stream_id is None or s.stream_id == stream_id
        ]

    def choose_codec(self, stream_id: str, offer_sdp: str) -> VideoCodec:
        """The codec a viewer will get: the stream's pass-through codec when the
        viewer takes it, else the first preferred one both sides support.

        Raises UnknownStreamError, InvalidOfferError or NoCommonCodecError.
        """
        stream = self.catalog.get(stream_id)
        offered = offered_codecs(offer_sdp)
        native = stream.source.native_codec
        order = ((native,) if native else ()) + self.settings.codec_preference
        for codec in order:
            if codec in offered and codec in stream.codecs:
                return codec
        raise NoCommonCodecError(
            f"viewer offers {', '.join(offered) or 'no usable codec'}; "
            f"stream {stream_id!r} sends {', '.join(stream.codecs)}"
        )

    async def open_session(
        self, stream_id: str, offer_sdp: str, on_end: SessionEnded | None = None
    ) -> WhepAnswer:
        """Answer a viewer's SDP offer and start sending; `on_end` is awaited with the
        reason once the session ends (never when this raises). An on-demand stream (a
        fixed camera's) is opened for its first viewer and closed after its last.

        Raises UnknownStreamError, InvalidOfferError, NoCommonCodecError,
        RelayFullError, StreamClosedError or SourceOpenError; on any error nothing is kept.
        """
        self._opening[stream_id] += 1
        try:
            await self.catalog.ensure(stream_id)
            return await self._open_session(stream_id, offer_sdp, on_end)
        finally:
            self._opening[stream_id] -= 1
            if not self._opening[stream_id]:
                del self._opening[stream_id]
            await self._release_if_unwatched(stream_id)

    async def _release_if_unwatched(self, stream_id: str) -> None:
        """Close an on-demand stream nobody watches or is about to."""
        if stream_id in self._opening or not self.catalog.on_demand(stream_id):
            return
        if any(s.stream_id == stream_id for s in self._sessions.values()):
            return
        await self.catalog.release(stream_id)
        logger.info("stream %s closed: its last viewer left", stream_id)

    async def _open_session(
        self, stream_id: str, offer_sdp: str, on_end: SessionEnded | None
    ) -> WhepAnswer:
        codec = self.choose_codec(stream_id, offer_sdp)
        if len(self.sessions(stream_id)) >= self.settings.max_viewers_per_stream:
            raise RelayFullError(f"stream {stream_id!r} has its maximum of viewers")
        if self.settings.ice_addresses is not None:
            offer_sdp = _filter_candidates(offer_sdp, self.settings.ice_addresses)
        stream = self.catalog.get(stream_id)
        # The session's URL is its credential (see web.video.whep): unguessable, 128 bits.
        session_id = secrets.token_urlsafe(16)
        key: _FanoutKey = (stream_id, codec)
        if stream.settings.encode_mode == "per_viewer":
            key += (session_id,)
        fanout = await self._fanout(key, stream, codec)
        servers = [
            RTCIceServer(list(s.urls), s.username, s.credential)
            for s in self.settings.ice_servers.for_peer(RELAY_PEER)
        ]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        session = _Session(stream_id, session_id, codec, pc, key, time.monotonic())
        # Registered while negotiating, so that concurrent offers respect the limit.
        self._sessions[session.session_id] = session
        try:
            answer_sdp = await self._negotiate(session, fanout, offer_sdp)
        except _OFFER_ERRORS as exc:
            await self._discard(session)
            raise InvalidOfferError(f"SDP offer rejected: {exc or type(exc).__name__}") from exc
        except TimeoutError as exc:
            await self._discard(session)
            raise InvalidOfferError("SDP negotiation timed out") from exc
        except BaseException:
            await self._discard(session)
            raise
        if self._sessions.get(session.session_id) is not session:
            # Reaped while negotiating (its stream ended): nobody is left to tell.
            raise StreamClosedError(f"stream {stream_id!r} ended while the offer was answered")
        session.on_end = on_end
        pc.on("connectionstatechange", self._wakeup.set)
        logger.info("viewer %s joined %s (%s)", session.session_id, stream_id, codec)
        return WhepAnswer(stream_id, session.session_id, answer_sdp, codec)

    def has_session(self, stream_id: str, session_id: str) -> bool:
        session = self._sessions.get(session_id)
        return session is not None and session.stream_id == stream_id

    async def close_session(self, stream_id: str, session_id: str, reason: str = LEFT) -> None:
        """Hang up on one viewer (by default: it left; another reason: the relay ends it).
        Raises UnknownSessionError, except for a session the relay ended itself."""
        session = self._sessions.get(session_id)
        if session is None or session.stream_id != stream_id:
            if self._ended.get(session_id) == stream_id:
                return  # ended by the relay a moment ago: the viewer's DELETE is done
            raise UnknownSessionError(stream_id, session_id)
        del self._sessions[session_id]
        if reason != LEFT:
            self._remember_ended(session)
        await self._hang_up(session, reason)
        logger.info("viewer %s of %s ended: %s", session_id, stream_id, reason)

    def _remember_ended(self, session: _Session) -> None:
        self._ended[session.session_id] = session.stream_id
        while len(self._ended) > ENDED_REMEMBERED:
            self._ended.popitem(last=False)

    async def _fanout(self, key: _FanoutKey, stream: VideoStream, codec: VideoCodec) -> RtpFanout:
        fanout = self._fanouts.get(key)
        if fanout is not None and fanout.ended:
            await self._fanouts.pop(key).close()
            fanout = None
        if fanout is None:
            # Raises StreamClosedError when the stream has ended.
            fanout = RtpFanout(stream.subscribe(codec), "/".join(key))
            self._fanouts[key] = fanout
        return fanout

    async def _negotiate(self, session: _Session, fanout: RtpFanout, offer_sdp: str) -> str:
        pc = session.pc
        track = IdleTrack()
        transceiver = pc.addTransceiver(track, direction="sendonly")
        # aiortc settles the codec in setRemoteDescription, so preferences go first.
        transceiver.setCodecPreferences(_capabilities(session.codec))
        fanout.prepare(transceiver.sender)
        if _offers_audio(offer_sdp):
            # Left to itself aiortc answers an audio section it has no track for with
            # recvonly (or inactive); WHEP wants every answered section sendonly.
            session.silence = IdleTrack("audio")
            pc.addTransceiver(session.silence, direction="sendonly")
        async with asyncio.timeout(self.settings.negotiation_timeout_s):
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        session.lane = fanout.join(transceiver, track)
        return whep_answer(str(pc.localDescription.sdp))

    async def _discard(self, session: _Session) -> None:
        self._sessions.pop(session.session_id, None)
        await self._hang_up(session, "")

    async def _hang_up(self, session: _Session, reason: str) -> None:
        fanout = self._fanouts.get(session.fanout_key)
        if fanout is not None:
            if session.lane is not None:
                fanout.leave(session.lane)
            if not fanout.lane_count and not self._negotiating(session.fanout_key):
                # Nobody left to send to: let the stream stop encoding for it.
                del self._fanouts[session.fanout_key]
                await fanout.close()
        if session.silence is not None:
            session.silence.stop()
        try:
            async with asyncio.timeout(self.settings.close_timeout_s):
                await session.pc.close()
        except TimeoutError:
            logger.warning("viewer %s did not close in time", session.session_id)
        on_end, session.on_end = session.on_end, None
        if on_end is not None:
            try:
                await on_end(reason)
            except Exception:  # the listener's trouble must not stop the relay's reaping
                logger.exception("viewer %s: its end was not reported", session.session_id)
        if reason != RELAY_STOPPED:
            await self._release_if_unwatched(session.stream_id)

    def _negotiating(self, key: _FanoutKey) -> bool:
        return any(s.fanout_key == key and s.lane is None for s in self._sessions.values())

    def _end_reason(self, session: _Session, now_s: float) -> str | None:
        """Why the session is over, or None while it is not."""
        state = session.pc.connectionState
        lane, fanout = session.lane, self._fanouts.get(session.fanout_key)
        if state in _DEAD_STATES:
            return f"the viewer's connection {state}"
        if fanout is None or fanout.ended:
            return "the stream ended"
        if lane and lane.failed:
            return "sending to the viewer failed"
        if state != "connected" and now_s - session.created_s > self.settings.connect_timeout_s:
            return f"the viewer did not connect within {self.settings.connect_timeout_s:g} s"
        return None

    async def _reap_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.reap_interval_s):
                    await self._wakeup.wait()
            self._wakeup.clear()
            now_s = time.monotonic()
            ended = [(s, self._end_reason(s, now_s)) for s in list(self._sessions.values())]
            for session, reason in ended:
                if reason is None or self._sessions.get(session.session_id) is not session:
                    continue
                del self._sessions[session.session_id]
                self._remember_ended(session)
                logger.info(
                    "reaping viewer %s of %s: %s", session.session_id, session.stream_id, reason
                )
                await self._hang_up(session, reason)
