"""Glass-to-glass latency: an aiortc viewer in a second process reads the frames' timecode."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import sys
from pathlib import Path

from web.video.app import create_video_app

from .helpers import live_server, loopback_relay_settings, synthetic_stream

WINDOW_S = 4.0


async def test_a_viewer_in_another_process_measures_latency_from_the_frames(
    loopback_socket: socket.socket, tmp_path: Path
) -> None:
    stream = synthetic_stream(width_px=1280, height_px=720, fps=30)
    app = create_video_app(
        [stream], relay_settings=loopback_relay_settings(), recordings_dir=tmp_path
    )
    async with live_server(app, loopback_socket) as base_url:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "web.video.whep_client",
            f"{base_url}/whep/drone-1",
            "--viewers=2",
            "--decoders=1",
            f"--window-s={WINDOW_S}",
            "--loopback-only",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(60):
                stdout, stderr = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0, stderr.decode()
    decoder, counter = json.loads(stdout)["viewers"]
    assert decoder["error"] is None
    assert counter["error"] is None
    assert (decoder["width_px"], decoder["height_px"]) == (1280, 720)
    # 30 fps are sent; a loaded test machine delivers fewer (the benchmark measures it).
    assert decoder["decoded_frames"] >= 2 * WINDOW_S
    assert counter["frames"] >= 2 * WINDOW_S
    assert counter["packets_lost"] == 0
    latencies = decoder["latencies_ms"]
    # Every decoded frame carried a readable timecode.
    assert len(latencies) >= 0.95 * decoder["decoded_frames"]
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"loopback glass-to-glass latency p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    # The target is p95 < 150 ms on an idle machine: the benchmark measures it. Here only
    # that the figures are those of a live stream (a busy machine adds its own delay).
    assert 0 < p50 < 2000
    assert p95 < 5000
