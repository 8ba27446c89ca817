"""WHEP viewers built on aiortc, for tests and the benchmark; run many in one process.

    python -m web.video.whep_client http://127.0.0.1:8088/whep/drone-1 \\
        --viewers 20 --decoders 2 --window-s 5 --loopback-only

Every viewer counts the RTP it receives (frames = packets with the marker
bit, bytes, lost packets). Only "decoding" viewers decrypt, reassemble and
decode pictures, read the timecode drawn into each frame and so measure
glass-to-glass latency: decoding 720p in Python costs a good part of a core
per viewer. The others read the clear-text RTP header of each SRTP datagram
as it reaches their socket (ICE, DTLS and RTCP still run as usual), which
costs a few microseconds, so one machine can play a hundred viewers.
Besides the relay modules, this is the only one that imports aiortc.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urljoin

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket, is_rtcp

from web.video.relay import use_ice_addresses
from web.video.timecode import latency_ms, read_timecode, wall_clock_ms

# RTP header and SRTP authentication tag, subtracted to estimate payload bytes.
_SRTP_OVERHEAD_BYTES = 12 + 10


@dataclass
class _Window:
    """The wall-clock interval (s since the epoch) in which viewers count."""

    start_s: float = 0.0
    end_s: float = float("inf")

    def contains(self, now_s: float) -> bool:
        return self.start_s <= now_s < self.end_s


@dataclass
class ViewerReport:
    """What one viewer saw inside the measurement window."""

    index: int
    decode: bool
    codec: str | None = None
    error: str | None = None
    first_frame_s: float | None = None  # from sending the offer to the first packet
    frames: int = 0
    bytes: int = 0
    packets: int = 0
    packets_lost: int = 0
    max_frame_gap_ms: float = 0.0  # longest wait between two frames' last packets
    packets_withheld: int = 0  # media packets this viewer threw away on purpose (`lose_packets`)
    retransmissions: int = 0  # packets received on the retransmission (RTX) stream
    decoded_frames: int = 0
    width_px: int = 0
    height_px: int = 0
    latencies_ms: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ViewerRun:
    """Every viewer's report, and this process's CPU use during the window."""

    reports: list[ViewerReport]
    process_cpu_pct: float


class WhepViewer:
    """One WebRTC viewer of one WHEP endpoint."""

    def __init__(
        self,
        whep_url: str,
        index: int = 0,
        *,
        decode: bool = False,
        codec: str | None = None,
        window: _Window | None = None,
        timeout_s: float = 10.0,
        lose_packets: int = 0,
        video_direction: str = "recvonly",
        audio_direction: str | None = None,
        configuration: RTCConfiguration | None = None,
    ) -> None:
        """`lose_packets`: a decoding viewer throws away that many media packets,
        one every few frames once it has started, as a lossy network would.
        `video_direction` and `audio_direction` (None: no audio section) are what the
        offer says of each, as players differ: recvonly, or sendrecv. `configuration`:
        the peer connection's (its ICE servers and policy); none by default."""
        self._url = whep_url
        self._configuration = configuration or RTCConfiguration(iceServers=[])
        self._codec = codec
        self._video_direction = video_direction
        self._audio_direction = audio_direction
        self.answer_sdp: str | None = None
        self._window = window or _Window()
        self._timeout_s = timeout_s
        self.report = ViewerReport(index=index, decode=decode)
        self.session_url: str | None = None
        self.links: list[str] = []  # the answer's Link headers
        self.offer_sdp: str | None = None
        self._pc: RTCPeerConnection | None = None
        self._decoder_task: asyncio.Task[None] | None = None
        self._ssrc: int | None = None
        self._last_seq: int | None = None
        self._offer_s = 0.0
        self._last_frame_s: float | None = None
        self._to_lose = lose_packets
        self.first_frame = asyncio.Event()

    async def connect(self, client: httpx.AsyncClient) -> None:
        """Offer, post, answer; raises httpx.HTTPError or RuntimeError on refusal."""
        pc = self._pc = RTCPeerConnection(self._configuration)
        transceiver = pc.addTransceiver("video", direction=self._video_direction)
        if self._audio_direction is not None:
            pc.addTransceiver("audio", direction=self._audio_direction)
        if self._codec:
            wanted = (f"video/{self._codec}", "video/rtx")
            capabilities = RTCRtpReceiver.getCapabilities("video")
            codecs = capabilities.codecs if capabilities else []
            transceiver.setCodecPreferences([c for c in codecs if c.mimeType.lower() in wanted])
        self._count_rtp(transceiver.receiver)
        async with asyncio.timeout(self._timeout_s):
            await pc.setLocalDescription(await pc.createOffer())
            if not self.report.decode:
                self._count_at_socket(transceiver.receiver)  # sockets exist once gathered
            self._offer_s = time.monotonic()
            self.offer_sdp = pc.localDescription.sdp
            response = await client.post(
                self._url,
                content=self.offer_sdp,
                headers={"Content-Type": "application/sdp"},
            )
            if response.status_code != 201:
                raise RuntimeError(f"WHEP {response.status_code}: {response.text}")
            self.session_url = urljoin(self._url, response.headers["location"])
            self.links = response.headers.get_list("link")
            self.report.codec = response.headers.get("x-video-codec")
            self.answer_sdp = response.text
            await pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
        if self.report.decode:
            track = transceiver.receiver.track
            self._decoder_task = asyncio.create_task(self._decode(track))

    async def close(self, client: httpx.AsyncClient | None) -> None:
        """Leave (WHEP DELETE) and hang up; safe to call more than once."""
        task, self._decoder_task = self._decoder_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        url, self.session_url = self.session_url, None
        if url is not None and client is not None:
            with contextlib.suppress(httpx.HTTPError, TimeoutError):
                async with asyncio.timeout(self._timeout_s):
                    await client.delete(url)
        pc, self._pc = self._pc, None
        if pc is not None:
            async with asyncio.timeout(self._timeout_s):
                await pc.close()

    def _count_rtp(self, receiver: RTCRtpReceiver) -> None:
        if self.report.decode:
            forward = receiver._handle_rtp_packet

            async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
                if self._withhold(packet):
                    return
                self._on_rtp(
                    packet.ssrc, packet.sequence_number, packet.marker, len(packet.payload)
                )
                await forward(packet, arrival_time_ms=arrival_time_ms)

            receiver._handle_rtp_packet = handle  # type: ignore[method-assign]

    def _withhold(self, packet: RtpPacket) -> bool:
        # Lose a packet from the middle of a frame every tenth frame once started.
        if self._to_lose <= 0 or packet.ssrc != self._ssrc or packet.marker:
            return False
        if self.report.frames < 10 or packet.sequence_number % 10:
            return False
        self._to_lose -= 1
        self.report.packets_withheld += 1
        self._last_seq = packet.sequence_number  # a loss on purpose, not the network's
        return True

    async def sender_report(self) -> dict[str, Any] | None:
        """The last RTCP sender report of the relay, as aiortc's stats show it."""
        if self._pc is None:
            return None
        for stats in (await self._pc.getStats()).values():
            if stats.type == "remote-outbound-rtp":
                return asdict(stats)
        return None

    def _count_at_socket(self, receiver: RTCRtpReceiver) -> None:
        """Viewers that only count read the RTP header, which SRTP leaves in clear,
        as each datagram arrives: no queue, decryption, jitter buffer or decoder."""
        connection = receiver.transport.transport._connection
        for protocol in connection._protocols:
            counter = self._rtp_counter(protocol.datagram_received)
            protocol.datagram_received = counter  # type: ignore[method-assign,assignment]

    def _rtp_counter(self, forward: Callable[[bytes, Any], None]) -> Callable[[bytes, Any], None]:
        def datagram_received(data: bytes, addr: Any) -> None:
            # STUN starts with 0 or 1, DTLS with 20..63, RTP and RTCP with 128..191.
            if len(data) < 12 or not 127 < data[0] < 192 or is_rtcp(data):
                forward(data, addr)
                return
            self._on_rtp(
                int.from_bytes(data[8:12], "big"),
                int.from_bytes(data[2:4], "big"),
                data[1] >> 7,
                len(data) - _SRTP_OVERHEAD_BYTES,
            )

        return datagram_received

    def _on_rtp(self, ssrc: int, sequence_number: int, marker: int, payload_bytes: int) -> None:
        if self._ssrc is None:
            self._ssrc = ssrc  # the media stream; retransmissions use another
            self.report.first_frame_s = time.monotonic() - self._offer_s
            self.first_frame.set()
        if ssrc != self._ssrc:
            self.report.retransmissions += 1
            return
        if not self._window.contains(time.time()):
            self._last_seq = sequence_number
            return
        report = self.report
        if self._last_seq is not None:
            gap = (sequence_number - self._last_seq) % 65536
            if 1 < gap < 32768:
                report.packets_lost += gap - 1
        self._last_seq = sequence_number
        report.packets += 1
        report.bytes += payload_bytes
        if marker:
            report.frames += 1
            now_s = time.monotonic()
            if self._last_frame_s is not None:
                gap_ms = (now_s - self._last_frame_s) * 1000
                report.max_frame_gap_ms = max(report.max_frame_gap_ms, gap_ms)
            self._last_frame_s = now_s

    async def _decode(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.VideoFrame):
                    continue
                now_ms = wall_clock_ms()
                if not self._window.contains(time.time()):
                    continue
                self.report.decoded_frames += 1
                self.report.width_px, self.report.height_px = frame.width, frame.height
                code = read_timecode(_luma(frame))
                if code is not None:
                    self.report.latencies_ms.append(latency_ms(code, now_ms))


def _luma(frame: av.VideoFrame) -> np.ndarray:
    if frame.format.name in ("yuv420p", "yuvj420p", "nv12"):
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)
        return rows[:, : frame.width]
    return frame.to_ndarray(format="gray")


async def run_viewers(
    whep_url: str,
    viewers: int,
    decoders: int,
    *,
    window_start_s: float | Callable[[], Awaitable[float]] | None = None,
    window_s: float = 5.0,
    codec: str | None = None,
    join_concurrency: int = 8,
    timeout_s: float = 15.0,
) -> ViewerRun:
    """Connect `viewers` (the first `decoders` of them decode), count during the window.

    The window starts at `window_start_s` (epoch seconds), or at the time
    returned by awaiting it once every viewer has joined, or (None) half a
    second after every viewer has joined; it lasts `window_s`.
    """
    fixed_start = window_start_s if isinstance(window_start_s, float | int) else None
    window = _Window(start_s=fixed_start or float("inf"))
    fleet = [
        WhepViewer(
            whep_url, i, decode=i < decoders, codec=codec, window=window, timeout_s=timeout_s
        )
        for i in range(viewers)
    ]
    limit = asyncio.Semaphore(join_concurrency)
    async with httpx.AsyncClient(timeout=timeout_s) as client:

        async def join(viewer: WhepViewer) -> None:
            async with limit:
                try:
                    await viewer.connect(client)
                    async with asyncio.timeout(timeout_s):
                        await viewer.first_frame.wait()
                except (httpx.HTTPError, RuntimeError, TimeoutError) as exc:
                    viewer.report.error = f"{type(exc).__name__}: {exc}"

        try:
            async with asyncio.TaskGroup() as group:
                for viewer in fleet:
                    group.create_task(join(viewer))
            connected = sum(v.report.error is None for v in fleet)
            print(f"connected {connected}/{viewers}", file=sys.stderr, flush=True)
            if window_start_s is None:
                window.start_s = time.time() + 0.5
            elif fixed_start is None:
                window.start_s = await window_start_s()  # type: ignore[operator]
            window.end_s = window.start_s + window_s
            await asyncio.sleep(max(0.0, window.start_s - time.time()))
            cpu_s = time.process_time()
            await asyncio.sleep(max(0.0, window.end_s - time.time()))
            cpu_pct = (time.process_time() - cpu_s) / window_s * 100
            await asyncio.sleep(0.05)
        finally:
            for viewer in fleet:
                await viewer.close(client)
    return ViewerRun(reports=[viewer.report for viewer in fleet], process_cpu_pct=cpu_pct)


async def _start_from_stdin() -> float:
    line = await asyncio.to_thread(sys.stdin.readline)
    return float(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.video.whep_client", description=__doc__)
    parser.add_argument("url", help="WHEP endpoint, e.g. http://127.0.0.1:8088/whep/drone-1")
    parser.add_argument("--viewers", type=int, default=1)
    parser.add_argument("--decoders", type=int, default=1)
    parser.add_argument("--window-start", type=float, help="epoch seconds; default: when joined")
    parser.add_argument(
        "--start-from-stdin",
        action="store_true",
        help="once joined, read the window's start (epoch seconds) from a line on stdin",
    )
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--codec", choices=("h264", "vp8"))
    parser.add_argument("--loopback-only", action="store_true", help="ICE on 127.0.0.1 only")
    parser.add_argument("--join-concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    if args.loopback_only:
        use_ice_addresses(("127.0.0.1",))
    run = asyncio.run(
        run_viewers(
            args.url,
            args.viewers,
            args.decoders,
            window_start_s=_start_from_stdin if args.start_from_stdin else args.window_start,
            window_s=args.window_s,
            codec=args.codec,
            join_concurrency=args.join_concurrency,
        )
    )
    print(
        json.dumps(
            {
                "window_s": args.window_s,
                "process_cpu_pct": run.process_cpu_pct,
                "viewers": [asdict(r) for r in run.reports],
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
