"""Fan-out of one stream of encoded frames to many consumers (viewers, recorders).

Every consumer gets the same `EncodedFrame` objects; nothing is copied or
re-encoded per consumer. A consumer starts at a keyframe. A consumer that
falls behind by more than its queue drops what it holds and waits for the
next keyframe, so one slow viewer never delays or bloats the others.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from web.video.encoded_frame import EncodedFrame, VideoCodec
from web.video.errors import StreamClosedError


@dataclass(frozen=True)
class SubscriptionStats:
    """What one consumer received, in frames."""

    delivered: int
    skipped_waiting_keyframe: int
    dropped_overflow: int


class Subscription:
    """One consumer's view of a `PacketFeed`; use from the event loop only."""

    def __init__(self, feed: PacketFeed, max_queued_frames: int) -> None:
        self._feed = feed
        self._frames: deque[EncodedFrame] = deque()
        self._max_queued_frames = max_queued_frames
        self._wakeup = asyncio.Event()
        self._waiting_keyframe = True
        self._closed = False
        self._ended = False
        self._delivered = 0
        self._skipped = 0
        self._dropped = 0

    @property
    def codec(self) -> VideoCodec:
        return self._feed.codec

    @property
    def closed(self) -> bool:
        """The consumer left, or the feed ended and every frame was read."""
        return self._closed or (self._ended and not self._frames)

    @property
    def stats(self) -> SubscriptionStats:
        return SubscriptionStats(self._delivered, self._skipped, self._dropped)

    async def next_frame(self) -> EncodedFrame:
        """The next frame; raises StreamClosedError once the subscription is closed,
        or once the feed has ended and the frames queued before the end are read."""
        while True:
            if self._closed:
                raise StreamClosedError("subscription closed")
            if self._frames:
                self._delivered += 1
                return self._frames.popleft()
            if self._ended:
                raise StreamClosedError("stream ended")
            self._wakeup.clear()
            await self._wakeup.wait()

    def request_keyframe(self) -> None:
        """Ask the feed's encoder for a keyframe (a viewer's PLI or FIR)."""
        if not self._closed:
            self._feed.request_keyframe()

    def close(self) -> None:
        """Stop receiving; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._frames.clear()
        self._wakeup.set()
        self._feed.remove(self)

    def end(self) -> None:
        """The feed ended: what is queued can still be read (called by the feed)."""
        self._ended = True
        self._wakeup.set()

    def offer(self, frame: EncodedFrame) -> None:
        """Queue `frame` for this consumer (called by the feed)."""
        if self._waiting_keyframe:
            if not frame.keyframe:
                self._skipped += 1
                return
            self._waiting_keyframe = False
        if len(self._frames) >= self._max_queued_frames:
            self._dropped += len(self._frames)
            self._frames.clear()
            if not frame.keyframe:
                self._waiting_keyframe = True
                self._skipped += 1
                self._feed.request_keyframe()
                return
        self._frames.append(frame)
        self._wakeup.set()


class PacketFeed:
    """The frames of one codec of one stream, and who receives them."""

    def __init__(
        self,
        codec: VideoCodec,
        request_keyframe: Callable[[], None],
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.codec: VideoCodec = codec
        self._request_keyframe = request_keyframe
        self._on_change = on_change
        self._subscriptions: set[Subscription] = set()
        self._closed = False
        self.frames_published = 0
        self.bytes_published = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    @property
    def closed(self) -> bool:
        return self._closed

    def subscribe(self, max_queued_frames: int = 8) -> Subscription:
        """A new consumer, which starts at the next keyframe (requested now).

        Raises StreamClosedError if the feed is closed.
        """
        if self._closed:
            raise StreamClosedError(f"{self.codec} feed closed")
        subscription = Subscription(self, max_queued_frames)
        self._subscriptions.add(subscription)
        self._request_keyframe()
        if self._on_change is not None:
            self._on_change()
        return subscription

    def publish(self, frame: EncodedFrame) -> None:
        """Hand `frame` to every consumer."""
        self.frames_published += 1
        self.bytes_published += len(frame.data)
        for subscription in tuple(self._subscriptions):
            subscription.offer(frame)

    def request_keyframe(self) -> None:
        self._request_keyframe()

    def remove(self, subscription: Subscription) -> None:
        """Forget a consumer (called by `Subscription.close`)."""
        if subscription in self._subscriptions:
            self._subscriptions.discard(subscription)
            if self._on_change is not None:
                self._on_change()

    def close(self) -> None:
        """End the feed: consumers read what they hold, then see the end.

        Safe to call more than once.
        """
        self._closed = True
        for subscription in tuple(self._subscriptions):
            subscription.end()
