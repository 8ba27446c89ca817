"""Fan-out: every consumer gets the same frames, from a keyframe; slow ones never hold others."""

from __future__ import annotations

import asyncio

import pytest

from web.video.encoded_frame import EncodedFrame
from web.video.errors import StreamClosedError
from web.video.fanout import PacketFeed


def _frame(index: int, keyframe: bool = False) -> EncodedFrame:
    return EncodedFrame("h264", bytes([index % 256]), index * 3000, keyframe, index, 320, 240)


class Requests:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


async def test_a_new_consumer_starts_at_a_keyframe_and_asks_for_one() -> None:
    requests = Requests()
    feed = PacketFeed("h264", requests)
    subscription = feed.subscribe()
    assert requests.count == 1
    for index in range(3):
        feed.publish(_frame(index))
    feed.publish(_frame(3, keyframe=True))
    feed.publish(_frame(4))
    assert (await subscription.next_frame()).pts_90k == 3 * 3000
    assert (await subscription.next_frame()).pts_90k == 4 * 3000
    assert subscription.stats.skipped_waiting_keyframe == 3


async def test_every_consumer_gets_the_same_frame_objects() -> None:
    feed = PacketFeed("h264", Requests())
    first, second = feed.subscribe(), feed.subscribe()
    frame = _frame(0, keyframe=True)
    feed.publish(frame)
    assert await first.next_frame() is frame
    assert await second.next_frame() is frame


async def test_a_slow_consumer_drops_and_waits_for_a_keyframe_without_holding_others() -> None:
    requests = Requests()
    feed = PacketFeed("h264", requests)
    slow = feed.subscribe(max_queued_frames=4)
    fast = feed.subscribe(max_queued_frames=4)
    received = []
    feed.publish(_frame(0, keyframe=True))
    for index in range(1, 10):
        received.append((await fast.next_frame()).pts_90k)
        feed.publish(_frame(index))
    received.append((await fast.next_frame()).pts_90k)
    assert received == [i * 3000 for i in range(10)]
    assert slow.stats.dropped_overflow == 4
    assert requests.count == 3  # two joins, one overflow
    feed.publish(_frame(10, keyframe=True))
    assert (await slow.next_frame()).keyframe


async def test_a_waiting_consumer_is_woken_by_publish() -> None:
    feed = PacketFeed("vp8", Requests())
    subscription = feed.subscribe()
    waiter = asyncio.create_task(subscription.next_frame())
    await asyncio.sleep(0)
    feed.publish(_frame(0, keyframe=True))
    async with asyncio.timeout(1):
        assert (await waiter).keyframe


async def test_close_is_idempotent_and_ends_waiting_readers() -> None:
    feed = PacketFeed("h264", Requests())
    subscription = feed.subscribe()
    waiter = asyncio.create_task(subscription.next_frame())
    await asyncio.sleep(0)
    subscription.close()
    subscription.close()
    with pytest.raises(StreamClosedError):
        await waiter
    assert feed.subscriber_count == 0


async def test_closing_the_feed_ends_consumers_after_what_they_hold() -> None:
    feed = PacketFeed("h264", Requests())
    subscription = feed.subscribe()
    feed.publish(_frame(0, keyframe=True))
    feed.publish(_frame(1))
    feed.close()
    feed.close()
    assert not subscription.closed
    assert [(await subscription.next_frame()).pts_90k for _ in range(2)] == [0, 3000]
    assert subscription.closed
    with pytest.raises(StreamClosedError):
        await subscription.next_frame()
    with pytest.raises(StreamClosedError):
        feed.subscribe()
