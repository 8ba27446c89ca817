"""Drone feeds: the drone's own H.264 packets are forwarded, never re-encoded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import av
import pytest
from av.bitstream import BitStreamFilterContext

from web.video.errors import SourceEndedError, SourceOpenError
from web.video.passthrough_source import (
    PassthroughSource,
    h264_nal_types,
    h264_parameter_sets,
    is_file_url,
)
from web.video.stream import VideoStream

from .helpers import annexb_nals, avcc_nals, write_h264_clip


async def _read_all(source: PassthroughSource) -> list:
    frames = []
    await source.open()
    try:
        while True:
            frames.append(await source.read(want_picture=False))
    except SourceEndedError:
        pass
    finally:
        await source.close()
    return frames


async def test_mp4_packets_are_forwarded_as_annex_b_without_re_encoding(tmp_path: Path) -> None:
    clip = tmp_path / "drone.mp4"
    write_h264_clip(clip, frames=45, gop=15)
    frames = await _read_all(PassthroughSource(clip, realtime=False))

    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        original = [bytes(p) for p in container.demux(stream) if p.size]
    assert len(frames) == len(original) == 45
    for frame, avcc in zip(frames, original, strict=True):
        assert frame.packet is not None
        assert frame.i420 is None
        assert frame.packet.data.startswith(b"\x00\x00\x00\x01")
        # The very slices the drone encoded; only SPS/PPS are added before IDRs.
        slices = [n for n in annexb_nals(frame.packet.data) if n[0] & 0x1F not in (7, 8)]
        assert slices == avcc_nals(avcc)
    keyframes = [f.packet for f in frames if f.packet and f.packet.keyframe]
    assert len(keyframes) == 3
    for keyframe in keyframes:
        types = h264_nal_types(keyframe.data)
        assert types.index(7) < types.index(5)  # SPS, PPS, then the IDR slices
        assert types.index(8) < types.index(5)
    assert [f.pts_90k for f in frames] == [i * 3000 for i in range(45)]


async def test_transport_stream_packets_are_forwarded_byte_for_byte(tmp_path: Path) -> None:
    clip = tmp_path / "drone.ts"
    write_h264_clip(clip, frames=30, gop=10)
    frames = await _read_all(PassthroughSource(clip, realtime=False))
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        original = [bytes(p) for p in container.demux(stream) if p.size]
    assert [f.packet.data for f in frames if f.packet] == original


async def test_matches_ffmpeg_annex_b_filter_exactly(tmp_path: Path) -> None:
    clip = tmp_path / "drone.mp4"
    write_h264_clip(clip, frames=20, gop=10)
    frames = await _read_all(PassthroughSource(clip, realtime=False))
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        bsf = BitStreamFilterContext("h264_mp4toannexb", stream)
        expected = [bytes(o) for p in container.demux(stream) if p.size for o in bsf.filter(p)]
    assert [f.packet.data for f in frames if f.packet] == expected


async def test_files_are_read_in_real_time_and_can_loop(tmp_path: Path) -> None:
    clip = tmp_path / "drone.mp4"
    write_h264_clip(clip, frames=10, fps=30)
    source = PassthroughSource(clip, loop=True)
    await source.open()
    try:
        started = time.monotonic()
        frames = [await source.read(want_picture=False) for _ in range(25)]
        elapsed_s = time.monotonic() - started
    finally:
        await source.close()
    assert 0.6 < elapsed_s < 1.6  # 25 frames at 30 fps
    pts = [f.pts_90k for f in frames]
    assert pts == sorted(pts)
    assert len(set(pts)) == 25


async def test_pictures_are_decoded_only_when_wanted(tmp_path: Path) -> None:
    clip = tmp_path / "drone.mp4"
    write_h264_clip(clip, frames=5, width_px=320, height_px=240)
    source = PassthroughSource(clip, realtime=False)
    await source.open()
    try:
        frame = await source.read(want_picture=True)
    finally:
        await source.close()
        await source.close()
    assert frame.i420 is not None
    assert frame.i420.shape == (360, 320)


async def test_bad_feeds_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(SourceOpenError, match="drone feed"):
        await PassthroughSource(tmp_path / "missing.mp4").open()
    text = tmp_path / "not-video.txt"
    text.write_text("hello")
    with pytest.raises(SourceOpenError):
        await PassthroughSource(text).open()


def test_description_hides_credentials() -> None:
    source = PassthroughSource("rtsp://pilot:secret@10.1.2.3:8554/live")
    assert "secret" not in source.description
    assert "rtsp://10.1.2.3/live" in source.description


async def test_a_stream_forwards_the_drone_codec_and_encodes_only_other_codecs(
    tmp_path: Path,
) -> None:
    clip = tmp_path / "drone.mp4"
    write_h264_clip(clip, frames=30, gop=10)
    async with VideoStream("d", PassthroughSource(clip, loop=True)) as stream:
        assert stream.codecs == ("h264", "vp8")
        passthrough = stream.subscribe("h264")
        forwarded = [await passthrough.next_frame() for _ in range(12)]
        assert stream.info().encoders == 0  # nothing re-encoded for H.264 viewers
        transcoded = stream.subscribe("vp8")
        first_vp8 = await transcoded.next_frame()
        assert first_vp8.codec == "vp8"
        assert first_vp8.keyframe
        assert stream.info().encoders == 1
    assert all(f.codec == "h264" for f in forwarded)
    assert forwarded[0].keyframe


async def test_a_feed_that_is_down_is_retried_and_timestamps_continue(tmp_path: Path) -> None:
    clip = tmp_path / "later.ts"
    source = PassthroughSource(clip, reconnect_s=0.1, realtime=False)
    await source.open()  # the drone's camera is still off: no error
    try:
        reading = asyncio.create_task(source.read(want_picture=False))
        await asyncio.sleep(0.3)
        assert not reading.done()
        write_h264_clip(clip, frames=10, gop=5)
        async with asyncio.timeout(10):
            first = await reading
            # The clip ends: the source reconnects (here: opens the file again).
            frames = [first] + [await source.read(want_picture=False) for _ in range(14)]
    finally:
        await source.close()
    assert source.native_codec == "h264"
    pts = [f.pts_90k for f in frames]
    assert pts == sorted(pts)
    assert len(set(pts)) == 15
    assert frames[10].packet is not None
    assert frames[10].packet.keyframe  # a new connection starts at a keyframe


async def test_a_stream_offers_pass_through_once_the_feed_is_up(tmp_path: Path) -> None:
    clip = tmp_path / "later.ts"
    stream = VideoStream("d", PassthroughSource(clip, reconnect_s=0.1, loop=True))
    async with stream:
        assert stream.codecs == ("h264", "vp8")  # encoded from pixels, for now
        assert stream.source.native_codec is None
        write_h264_clip(clip, frames=30, gop=10)
        async with asyncio.timeout(10):
            while stream.source.native_codec is None:  # noqa: ASYNC110 - polling the feed
                await asyncio.sleep(0.05)
            subscription = stream.subscribe("h264")
            frame = await subscription.next_frame()
        assert frame.keyframe
        assert stream.info().encoders == 0


def test_a_file_is_told_from_a_live_feed() -> None:
    # A drone's feed from a file (a demo or test feed) plays in a loop; a live one not.
    assert is_file_url("/srv/feeds/drone.mkv")
    assert is_file_url("file:///srv/drone.mkv")
    assert is_file_url("C:/feeds/drone.mkv")
    for live in ("rtsp://cam.example/1", "udp://127.0.0.1:5600", "rtmp://a.example/live"):
        assert not is_file_url(live)


def test_parameter_sets_are_picked_from_a_keyframe() -> None:
    # SPS, PPS and an IDR slice (3- and 4-byte start codes): the first two are kept.
    frame = b"\x00\x00\x00\x01\x67\x42\xc0" + b"\x00\x00\x01\x68\xce" + b"\x00\x00\x01\x65\x88"
    sets = h264_parameter_sets(frame)
    assert sets == b"\x00\x00\x00\x01\x67\x42\xc0\x00\x00\x00\x01\x68\xce"
    assert h264_nal_types(sets) == [7, 8]
    assert h264_parameter_sets(b"\x00\x00\x01\x41\x9a") == b""  # a P slice: none
