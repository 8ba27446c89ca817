"""Helpers for the live-video tests: streams, loopback servers, generated clips."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from fractions import Fraction
from pathlib import Path

import av
import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI

from web.video.app import VideoServices
from web.video.camera_state import OrbitingSubject, ScenePoint
from web.video.encoder import EncoderSettings
from web.video.relay import RelaySettings
from web.video.stream import StreamSettings, VideoStream
from web.video.synthetic_camera import CameraSettings
from web.video.synthetic_source import SyntheticSource
from web.video.whep_client import WhepViewer

LOOPBACK = "127.0.0.1"
#: For a test's HTTP requests to the relay: a WHEP DELETE waits for the peer connection
#: to close, which on a busy two-core machine can take longer than httpx's default 5 s
#: (a viewer's leave is best effort, so a timed-out DELETE would leave it behind).
HTTP_TIMEOUT_S = 30.0
SCENE = ScenePoint(38.2544, -104.6091)


def synthetic_stream(
    stream_id: str = "drone-1",
    *,
    width_px: int = 640,
    height_px: int = 360,
    fps: int = 30,
    encode_mode: str = "once",
    call_id: str | None = "CALL-1",
    keyframe_interval_s: float = 2.0,
    encoder_idle_s: float = 60.0,
) -> VideoStream:
    """A simulated drone's camera stream, small by default to keep tests cheap."""
    subject = OrbitingSubject(stream_id, SCENE, call_id=call_id)
    camera = CameraSettings(width_px=width_px, height_px=height_px, fps=fps)
    settings = StreamSettings(
        encoder=EncoderSettings(bitrate_bps=800_000, keyframe_interval_s=keyframe_interval_s),
        encode_mode=encode_mode,  # type: ignore[arg-type]
        fps=fps,
        encoder_idle_s=encoder_idle_s,
    )
    return VideoStream(
        stream_id, SyntheticSource(subject, camera), settings, drone_id=stream_id, call_id=call_id
    )


def loopback_relay_settings(**overrides: float) -> RelaySettings:
    """Relay settings that keep ICE on 127.0.0.1 and reap quickly."""
    values: dict[str, object] = {
        "ice_addresses": (LOOPBACK,),
        "connect_timeout_s": 5.0,
        "reap_interval_s": 0.2,
    }
    values.update(overrides)
    return RelaySettings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def live_server(app: FastAPI, sock: socket.socket) -> AsyncIterator[str]:
    """Run `app` under uvicorn on `sock` in this event loop; yields the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(15):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("server stopped during startup")
                await asyncio.sleep(0.02)
        host, port = sock.getsockname()
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(15):
            await task


def services(app: FastAPI) -> VideoServices:
    return app.state.video  # type: ignore[no-any-return]


def write_h264_clip(
    path: Path,
    *,
    frames: int = 60,
    fps: int = 30,
    width_px: int = 320,
    height_px: int = 240,
    gop: int = 15,
    codec: str = "libx264",
) -> None:
    """Encode a short moving test pattern into `path` (container from the suffix)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = width_px
        stream.height = height_px
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.codec_context.options = {"preset": "ultrafast", "bf": "0"}
        xs = np.arange(width_px, dtype=np.uint16)
        for index in range(frames):
            rgb = np.zeros((height_px, width_px, 3), dtype=np.uint8)
            rgb[:, :, 0] = ((xs + index * 4) % 256).astype(np.uint8)
            rgb[:, :, 1] = (index * 3) % 256
            rgb[height_px // 3 : height_px // 2, (index * 5) % width_px :, 2] = 255
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            picture.pts = index
            picture.time_base = Fraction(1, fps)
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))


def annexb_nals(data: bytes) -> list[bytes]:
    """NAL units of an Annex-B buffer, start codes removed."""
    parts = data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01")
    return [p for p in parts if p]


def avcc_nals(data: bytes) -> list[bytes]:
    """NAL units of a length-prefixed (MP4) buffer."""
    nals, index = [], 0
    while index + 4 <= len(data):
        size = int.from_bytes(data[index : index + 4], "big")
        nals.append(data[index + 4 : index + 4 + size])
        index += 4 + size
    return nals


async def watch(url: str, client: httpx.AsyncClient, **kwargs: object) -> WhepViewer:
    """A `WhepViewer` of `url` that has received its first frame."""
    viewer = WhepViewer(url, **kwargs)  # type: ignore[arg-type]
    await viewer.connect(client)
    async with asyncio.timeout(10):
        await viewer.first_frame.wait()
    return viewer


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait until `condition()` holds (relay or viewer state, which has no event to await)."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - polling state that has no event
            await asyncio.sleep(0.05)
