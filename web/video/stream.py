"""One drone's live video: its source, its (at most one per codec) encoders, its feeds.

A stream reads its source in real time and publishes encoded frames to a
`PacketFeed` per codec. The source's own codec is forwarded as is; any other
codec a viewer needs is encoded once, in the stream's encoding process
(started at the first viewer who needs it, stopped after a minute unused),
and shared. In "per_viewer" mode every subscription gets a private encoder
instead: that is the naive design, kept only so the benchmark can measure
what encoding once saves.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Self

from web.video.encoded_frame import VIDEO_CODECS, VideoCodec
from web.video.encoder import EncoderSettings
from web.video.encoding_worker import EncodeJob, EncodingWorker
from web.video.errors import EncoderError, NoCommonCodecError, SourceError, StreamClosedError
from web.video.fanout import PacketFeed, Subscription
from web.video.video_source import SourceFrame, VideoSource

logger = logging.getLogger(__name__)

EncodeMode = Literal["once", "per_viewer"]

_feed_ids = itertools.count(1)


@dataclass(frozen=True)
class StreamSettings:
    """How a stream encodes; `codecs` are those it may encode into."""

    codecs: tuple[VideoCodec, ...] = VIDEO_CODECS
    encoder: EncoderSettings = field(default_factory=EncoderSettings)
    encode_mode: EncodeMode = "once"
    fps: int = 30
    viewer_queue_frames: int = 8
    encoder_idle_s: float = 60.0  # stop the encoding process after this long unused


@dataclass(frozen=True)
class StreamInfo:
    """A stream as shown by the API; CPU times are the encoding process's."""

    stream_id: str
    drone_id: str | None
    call_id: str | None
    source: str
    native_codec: VideoCodec | None
    codecs: tuple[VideoCodec, ...]
    width_px: int
    height_px: int
    frames_in: int
    consumers: int
    encoders: int
    encode_cpu_s: float
    worker_cpu_s: float
    ended: bool


class _EncodedFeed:
    """A feed whose frames come from one encoder in the encoding process."""

    def __init__(self, codec: VideoCodec, on_change: Callable[[], None]) -> None:
        self.feed_id = next(_feed_ids)
        self.codec: VideoCodec = codec
        self.encoding = False
        self.keyframe_requested = False
        self.feed = PacketFeed(codec, self._request_keyframe, on_change)

    def _request_keyframe(self) -> None:
        # Sent with the next job; the encoder's gate rate-limits it. A new
        # encoder's first frame is a keyframe anyway.
        self.keyframe_requested = True


class VideoStream:
    """A live stream of one drone's camera; an async context manager.

    When the source ends or fails, or the encoding process fails, the stream
    ends its feeds, so viewers and recorders see the end.
    """

    def __init__(
        self,
        stream_id: str,
        source: VideoSource,
        settings: StreamSettings | None = None,
        *,
        drone_id: str | None = None,
        call_id: str | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.drone_id = drone_id
        self.call_id = call_id
        self.source = source
        self.settings = settings or StreamSettings()
        self._native: PacketFeed | None = None  # known once the source is open
        self._shared: dict[VideoCodec, _EncodedFeed] = {}
        self._private: list[_EncodedFeed] = []
        self._worker: EncodingWorker | None = None
        self._jobs_pending = 0
        self._retired_cpu_s = 0.0  # of encoding processes stopped while idle
        self._retired_encode_cpu_s = 0.0
        # Encoding is pipelined: the next frame goes out before the last comes back.
        self._in_flight: asyncio.Queue[list[_EncodedFeed]] = asyncio.Queue(maxsize=2)
        self._task: asyncio.Task[None] | None = None
        self._size_px = (0, 0)
        self.frames_in = 0
        self.ended = False

    @property
    def codecs(self) -> tuple[VideoCodec, ...]:
        """Codecs viewers can get, the pass-through one first."""
        native = self.source.native_codec
        others = tuple(c for c in self.settings.codecs if c != native)
        return (native, *others) if native is not None else others

    def subscribe(self, codec: VideoCodec, max_queued_frames: int | None = None) -> Subscription:
        """A new consumer of `codec`; it starts at a keyframe.

        Raises NoCommonCodecError if the stream cannot send `codec`, and
        StreamClosedError if the stream is not running.
        """
        if self.ended or self._task is None:
            raise StreamClosedError(f"stream {self.stream_id!r} is not running")
        if codec not in self.codecs:
            raise NoCommonCodecError(f"stream {self.stream_id!r} cannot send {codec}")
        queue = max_queued_frames or self.settings.viewer_queue_frames
        native = self._native_feed()
        if native is not None and codec == native.codec:
            return native.subscribe(queue)
        if self.settings.encode_mode == "per_viewer":
            private = _EncodedFeed(codec, self._prune_private)
            self._private.append(private)
            return private.feed.subscribe(queue)
        shared = self._shared.get(codec)
        if shared is None:
            shared = self._shared[codec] = _EncodedFeed(codec, lambda: None)
        return shared.feed.subscribe(queue)

    def info(self) -> StreamInfo:
        feeds = [f.feed for f in self._encoded_feeds()]
        if self._native is not None:
            feeds.append(self._native)
        worker = self._worker
        return StreamInfo(
            stream_id=self.stream_id,
            drone_id=self.drone_id,
            call_id=self.call_id,
            source=self.source.description,
            native_codec=self.source.native_codec,
            codecs=self.codecs,
            width_px=self._size_px[0],
            height_px=self._size_px[1],
            frames_in=self.frames_in,
            consumers=sum(f.subscriber_count for f in feeds),
            encoders=sum(f.encoding for f in self._encoded_feeds()),
            encode_cpu_s=self._retired_encode_cpu_s + (worker.encode_cpu_s if worker else 0.0),
            worker_cpu_s=self._retired_cpu_s + (worker.process_cpu_s if worker else 0.0),
            ended=self.ended,
        )

    async def start(self) -> None:
        """Open the source and start reading; raises SourceOpenError."""
        if self._task is not None:
            return
        await self.source.open()
        self._native_feed()
        self._task = asyncio.create_task(self._run(), name=f"video-stream-{self.stream_id}")

    async def close(self) -> None:
        """Stop reading, end every consumer and release the source; safe twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._end_feeds()
        await self.source.close()
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump())
                group.create_task(self._publish())
        except* SourceError as ended:
            logger.info("stream %s ended: %s", self.stream_id, ended.exceptions[0])
        except* EncoderError as failed:
            logger.error("stream %s lost its encoder: %s", self.stream_id, failed.exceptions[0])
        finally:
            self._end_feeds()

    async def _pump(self) -> None:
        """Read the source in real time; hand pictures to the encoding process."""
        idle_since_s = time.monotonic()
        while True:
            encoders = [f for f in self._encoded_feeds() if f.feed.subscriber_count]
            frame = await self.source.read(want_picture=bool(encoders))
            self.frames_in += 1
            if frame.packet is not None:
                self._size_px = (frame.packet.width_px, frame.packet.height_px)
                native = self._native_feed()
                if native is not None:
                    native.publish(frame.packet)
            if frame.has_picture and encoders:
                await self._submit(encoders, frame)
                idle_since_s = time.monotonic()
            elif time.monotonic() - idle_since_s > self.settings.encoder_idle_s:
                await self._stop_idle_worker()

    async def _submit(self, feeds: list[_EncodedFeed], frame: SourceFrame) -> None:
        # Started at the first frame someone needs encoded.
        worker = await self._start_worker()
        job = EncodeJob(
            pts_90k=frame.pts_90k,
            clock_ms=frame.clock_ms,
            feeds=tuple((f.feed_id, f.codec) for f in feeds),
            keyframe_requests=tuple(f.feed_id for f in feeds if f.keyframe_requested),
            i420=frame.i420,
            draw=frame.draw,
        )
        for feed in feeds:
            feed.keyframe_requested = False
        # Waits while two frames are in flight: then the source skips frames.
        await self._in_flight.put(feeds)
        self._jobs_pending += 1
        await worker.submit(job)

    async def _publish(self) -> None:
        """Hand each encoded frame to its feeds, in order, as the process returns it."""
        while True:
            feeds = await self._in_flight.get()
            assert self._worker is not None
            result = await self._worker.next_result()
            self._size_px = (result.width_px, result.height_px)
            self._jobs_pending -= 1
            for feed in feeds:
                feed.encoding = True
                for encoded in result.frames.get(feed.feed_id, []):
                    feed.feed.publish(encoded)

    async def _stop_idle_worker(self) -> None:
        # Nobody has needed an encoder for a while: free the process and its memory.
        if self._worker is not None and not self._jobs_pending:
            worker, self._worker = self._worker, None
            self._retired_cpu_s += worker.process_cpu_s
            self._retired_encode_cpu_s += worker.encode_cpu_s
            for feed in self._encoded_feeds():
                feed.encoding = False
            await worker.close()

    def _native_feed(self) -> PacketFeed | None:
        # A drone feed that was down at start-up tells its codec once it is up.
        native = self.source.native_codec
        if self._native is None and native is not None and not self.ended:
            # Drone packets need no encoder, so there is no keyframe to ask for.
            self._native = PacketFeed(native, lambda: None)
        return self._native

    async def _start_worker(self) -> EncodingWorker:
        if self._worker is None:
            self._worker = EncodingWorker(self.settings.encoder, self.settings.fps)
            await self._worker.start()
        return self._worker

    def _encoded_feeds(self) -> list[_EncodedFeed]:
        return [*self._shared.values(), *self._private]

    def _prune_private(self) -> None:
        self._private = [p for p in self._private if p.feed.subscriber_count]

    def _end_feeds(self) -> None:
        self.ended = True
        for feed in self._encoded_feeds():
            feed.feed.close()
        if self._native is not None:
            self._native.close()
