"""Evidence recording: playable files, hashes that match their manifests, no re-encoding."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import av
import httpx
import pytest
from fastapi import FastAPI

from web.video.catalog import StreamCatalog
from web.video.errors import NoRecordingError, RecordingActiveError, UnknownStreamError
from web.video.passthrough_source import PassthroughSource
from web.video.recorder import INTERRUPTED, Recordings, finalise_interrupted
from web.video.stream import VideoStream

from .helpers import annexb_nals, avcc_nals, services, synthetic_stream, write_h264_clip


def _decoded_frames(path: Path) -> tuple[int, int, int, str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return (
            count,
            stream.codec_context.width,
            stream.codec_context.height,
            stream.codec_context.name,
        )


async def test_a_recording_is_playable_and_its_hash_matches_the_manifest(tmp_path: Path) -> None:
    async with StreamCatalog() as catalog, Recordings(catalog, tmp_path) as recordings:
        await catalog.start(synthetic_stream("drone-7", call_id="2026-000777"))
        recorder = await recordings.start("drone-7")
        async with asyncio.timeout(15):
            while recorder.frames_written < 30:  # noqa: ASYNC110 - no event for file writes
                await asyncio.sleep(0.1)
        manifest = await recordings.stop("drone-7")

    path = tmp_path / manifest.file_name
    assert path == recorder.path
    assert manifest.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest.size_bytes == path.stat().st_size
    on_disk = json.loads(path.with_suffix(".json").read_text())
    assert on_disk["sha256"] == manifest.sha256
    assert on_disk == json.loads(manifest.to_json())
    assert (manifest.stream_id, manifest.drone_id, manifest.call_id) == (
        "drone-7",
        "drone-7",
        "2026-000777",
    )
    assert manifest.codec == "h264"
    assert manifest.started_utc < manifest.ended_utc
    assert manifest.started_utc.endswith("Z")
    frames, width_px, height_px, codec = _decoded_frames(path)
    assert frames == manifest.frames
    assert frames >= 30
    assert (width_px, height_px, codec) == (640, 360, "h264")


async def test_a_recording_a_crash_cut_short_is_finalised_and_marked_at_the_next_start(
    tmp_path: Path,
) -> None:
    crashed = tmp_path / "as-the-crash-left-it"
    crashed.mkdir()
    async with StreamCatalog() as catalog, Recordings(catalog, tmp_path) as recordings:
        await catalog.start(synthetic_stream("drone-7", call_id="12"))
        recorder = await recordings.start("drone-7", sortie_id=34)
        async with asyncio.timeout(15):
            while recorder.frames_written < 60:  # noqa: ASYNC110 - no event for file writes
                await asyncio.sleep(0.1)
        # What a kill -9 leaves on disk: the file as written so far, its pending note,
        # no manifest.
        for written in (recorder.path, recorder.path.with_suffix(".pending.json")):
            (crashed / written.name).write_bytes(written.read_bytes())

    [manifest] = finalise_interrupted(crashed)
    path = crashed / manifest.file_name
    assert manifest.interrupted
    assert manifest.error == INTERRUPTED
    assert (manifest.drone_id, manifest.call_id, manifest.sortie_id) == ("drone-7", "12", 34)
    assert manifest.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest.size_bytes == path.stat().st_size
    assert 0 < manifest.frames <= 60 + 30
    assert (manifest.width_px, manifest.height_px) == (640, 360)
    assert json.loads(path.with_suffix(".json").read_text())["interrupted"] is True
    assert not list(crashed.glob("*.pending.json"))
    assert finalise_interrupted(crashed) == []  # once only


async def test_a_drone_feed_is_recorded_without_re_encoding(tmp_path: Path) -> None:
    clip = tmp_path / "drone.ts"
    write_h264_clip(clip, frames=30, gop=10)
    with av.open(str(clip)) as container:
        original = [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]
    async with StreamCatalog() as catalog, Recordings(catalog, tmp_path / "rec") as recordings:
        await catalog.start(VideoStream("feed", PassthroughSource(clip, realtime=False)))
        await recordings.start("feed")
        # The source ends after 30 frames; the recorder finalises by itself.
        async with asyncio.timeout(10):
            await recordings.active()["feed"].finished()
        assert catalog.get("feed").info().encoders == 0
        manifest = await recordings.stop("feed")
    path = tmp_path / "rec" / manifest.file_name
    with av.open(str(path)) as container:
        recorded = [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]
    # Matroska stores H.264 length-prefixed: compare the slices themselves.
    assert len(recorded) == manifest.frames
    assert manifest.frames >= 21  # from the first keyframe after subscribing
    for kept, sent in zip(reversed(recorded), reversed(original), strict=False):
        assert avcc_nals(kept) == annexb_nals(sent)
    assert _decoded_frames(path)[0] == manifest.frames


async def test_recording_control_errors(tmp_path: Path) -> None:
    async with StreamCatalog() as catalog, Recordings(catalog, tmp_path) as recordings:
        await catalog.start(synthetic_stream("drone-1"))
        with pytest.raises(UnknownStreamError):
            await recordings.start("nope")
        with pytest.raises(NoRecordingError):
            await recordings.stop("drone-1")
        await recordings.start("drone-1")
        with pytest.raises(RecordingActiveError):
            await recordings.start("drone-1")
        await recordings.stop("drone-1")
        with pytest.raises(NoRecordingError):
            await recordings.stop("drone-1")


async def test_recording_over_http(video_server: tuple[str, FastAPI]) -> None:
    base_url, app = video_server
    async with httpx.AsyncClient(base_url=base_url) as client:
        started = await client.post("/video/streams/drone-1/recording")
        assert started.status_code == 201
        assert (await client.post("/video/streams/drone-1/recording")).status_code == 409
        listing = (await client.get("/video/streams")).json()
        assert listing[0]["recording"] == started.json()["file_name"]
        await asyncio.sleep(1.0)
        stopped = await client.delete("/video/streams/drone-1/recording")
        assert stopped.status_code == 200
        assert (await client.delete("/video/streams/drone-1/recording")).status_code == 404
        assert (await client.post("/video/streams/nope/recording")).status_code == 404
    manifest = stopped.json()
    path = services(app).recordings.directory / manifest["file_name"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest["sha256"]
