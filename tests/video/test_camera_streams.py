"""Fixed cameras' video: opened for the first viewer, forwarded without re-encoding,
closed after the last; a feed that cannot be opened refuses the viewer cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dfr.camera_file import parse_cameras
from missions.cameras import CameraRegistry
from web.camera_video import CameraStreams
from web.video.app import create_video_app
from web.video.stream import StreamSettings

from .helpers import (
    LOOPBACK,
    live_server,
    loopback_relay_settings,
    services,
    until,
    watch,
    write_h264_clip,
)

HEADER = "id,name,lat,lon,heading_deg,fov_deg,range_m,source"


@contextlib.contextmanager
def http_files(directory: Path) -> Iterator[str]:
    """A plain HTTP server of `directory` on loopback; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))

    class Quiet(handler.func):  # type: ignore[name-defined,misc]
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        (LOOPBACK, 0), functools.partial(Quiet, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def camera_app(tmp_path: Path, *lines: str):
    cameras = CameraRegistry(parse_cameras("\n".join([HEADER, *lines]), tmp_path / "c.csv"))
    app = create_video_app([], relay_settings=loopback_relay_settings(), recordings_dir=tmp_path)
    services(app).catalog.provide(CameraStreams(cameras, StreamSettings()).stream_for)
    return app


@pytest.mark.parametrize("served", ["file", "http"])
async def test_a_camera_is_opened_for_its_viewers_and_forwarded_without_re_encoding(
    loopback_socket: socket.socket, tmp_path: Path, served: str
) -> None:
    write_h264_clip(tmp_path / "camera.ts", frames=450, gop=15, width_px=320, height_px=240)
    with http_files(tmp_path) as base:
        source = "file:camera.ts" if served == "file" else f"{base}/camera.ts"
        app = camera_app(tmp_path, f"c1,Main & 4th,38.26,-104.61,90,60,200,{source}")
        catalog = services(app).catalog
        async with live_server(app, loopback_socket) as url, httpx.AsyncClient() as client:
            assert len(catalog) == 0  # registered, not opened: nobody watches
            first = await watch(f"{url}/whep/cam-c1", client, decode=True)
            second = await watch(f"{url}/whep/cam-c1", client)
            await until(lambda: first.report.decoded_frames >= 10)
            assert first.report.codec == "h264"
            assert (first.report.width_px, first.report.height_px) == (320, 240)
            info = catalog.get("cam-c1").info()
            assert info.native_codec == "h264"
            assert info.encoders == 0  # the camera's own packets, forwarded
            assert len(catalog) == 1
            await first.close(client)
            assert catalog.on_demand("cam-c1")  # one viewer left
            await second.close(client)
            await until(lambda: len(catalog) == 0)  # the last viewer left: closed
            again = await watch(f"{url}/whep/cam-c1", client)  # and opened afresh
            await again.close(client)
            await until(lambda: len(catalog) == 0)


async def test_a_camera_whose_feed_cannot_be_opened_refuses_cleanly(
    loopback_socket: socket.socket, tmp_path: Path
) -> None:
    app = camera_app(
        tmp_path,
        "gone,Nowhere,38.26,-104.61,0,90,100,file:missing.ts",
        "down,Down,38.26,-104.61,0,90,100,http://admin:hunter2@127.0.0.1:9/none.ts",
    )
    async with live_server(app, loopback_socket) as url, httpx.AsyncClient() as client:
        offer = "v=0\r\n"  # never looked at: the feed fails first
        for stream_id in ("cam-gone", "cam-down"):
            answer = await client.post(
                f"{url}/whep/{stream_id}",
                content=offer,
                headers={"Content-Type": "application/sdp"},
            )
            assert answer.status_code == 502, answer.text
            assert "hunter2" not in answer.text
        unknown = await client.post(
            f"{url}/whep/cam-nope", content=offer, headers={"Content-Type": "application/sdp"}
        )
        assert unknown.status_code == 404
        assert len(services(app).catalog) == 0


async def test_viewers_arriving_together_open_the_camera_once(
    loopback_socket: socket.socket, tmp_path: Path
) -> None:
    write_h264_clip(tmp_path / "camera.ts", frames=90, gop=15)
    cameras = CameraRegistry(
        parse_cameras(f"{HEADER}\nc1,One,38.26,-104.61,0,360,100,file:camera.ts", tmp_path / "c")
    )
    built: list[str] = []

    def counted(stream_id: str):
        stream = CameraStreams(cameras, StreamSettings()).stream_for(stream_id)
        if stream is not None:
            built.append(stream_id)
        return stream

    app = create_video_app([], relay_settings=loopback_relay_settings(), recordings_dir=tmp_path)
    services(app).catalog.provide(counted)
    async with live_server(app, loopback_socket) as url, httpx.AsyncClient() as client:
        viewers = await asyncio.gather(*(watch(f"{url}/whep/cam-c1", client) for _ in range(3)))
        assert built == ["cam-c1"]
        assert len(services(app).relay.sessions("cam-c1")) == 3
        await asyncio.gather(*(v.close(client) for v in viewers))
        await until(lambda: len(services(app).catalog) == 0)
