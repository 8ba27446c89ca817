"""The encoding process: draws and encodes out of the server's process, in order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import numpy as np
import pytest

from web.video.camera_state import OrbitingSubject
from web.video.encoder import EncoderSettings
from web.video.encoding_worker import EncodeJob, EncodingWorker
from web.video.errors import EncoderError
from web.video.passthrough_source import h264_nal_types
from web.video.synthetic_camera import CameraSettings
from web.video.timecode import TimeCode
from web.video.video_source import DrawRequest

from .helpers import SCENE, synthetic_stream

CAMERA = CameraSettings(width_px=320, height_px=240)


def _draw_job(index: int, feeds: tuple[tuple[int, str], ...], keyframes: tuple[int, ...] = ()):  # type: ignore[no-untyped-def]
    state = OrbitingSubject("d", SCENE, call_id="c").camera_state()
    draw = DrawRequest(state, TimeCode(index, index), datetime.now(UTC), CAMERA)
    return EncodeJob(index * 3000, index, feeds, keyframes, draw=draw)  # type: ignore[arg-type]


async def test_jobs_are_drawn_encoded_and_returned_in_order() -> None:
    settings = EncoderSettings(keyframe_interval_s=10, keyframe_min_interval_s=0)
    async with EncodingWorker(settings, 30) as worker:
        for index in range(3):
            await worker.submit(_draw_job(index, ((1, "h264"), (2, "vp8"))))
        results = [await worker.next_result() for _ in range(3)]
        forced = await worker.encode(_draw_job(3, ((1, "h264"),), keyframes=(1,)))
    assert [r.frames[1][0].pts_90k for r in results] == [0, 3000, 6000]
    assert [r.frames[1][0].keyframe for r in results] == [True, False, False]
    assert results[0].frames[2][0].codec == "vp8"
    assert (results[0].width_px, results[0].height_px) == (320, 240)
    assert forced.frames[1][0].keyframe
    assert 7 in h264_nal_types(forced.frames[1][0].data)
    assert forced.encode_cpu_s > 0
    assert forced.process_cpu_s > 0


async def test_pixels_can_be_sent_instead_of_a_drawing() -> None:
    i420 = np.full((240 * 3 // 2, 320), 128, dtype=np.uint8)
    async with EncodingWorker(EncoderSettings(), 30) as worker:
        result = await worker.encode(EncodeJob(0, 0, ((5, "h264"),), (), i420=i420))
    assert result.frames[5][0].keyframe


async def test_a_bad_job_is_an_encoder_error_and_close_is_idempotent() -> None:
    worker = EncodingWorker(EncoderSettings(), 30)
    await worker.start()
    with pytest.raises(EncoderError, match="no picture"):
        await worker.encode(EncodeJob(0, 0, ((1, "h264"),), ()))
    await worker.close()
    await worker.close()
    with pytest.raises(EncoderError, match="not running"):
        await worker.encode(_draw_job(0, ((1, "h264"),)))


async def test_an_unused_encoding_process_is_stopped_and_restarted_when_needed() -> None:
    stream = synthetic_stream(encoder_idle_s=0.3)
    async with stream:
        subscription = stream.subscribe("h264")
        async with asyncio.timeout(15):
            await subscription.next_frame()
        assert stream.info().encoders == 1
        subscription.close()
        async with asyncio.timeout(5):
            while stream.info().encoders:  # noqa: ASYNC110 - polling the stream
                await asyncio.sleep(0.05)
        cpu_s = stream.info().worker_cpu_s
        assert cpu_s > 0  # kept after the process stopped
        again = stream.subscribe("h264")
        async with asyncio.timeout(15):
            assert (await again.next_frame()).keyframe
        assert stream.info().worker_cpu_s >= cpu_s
