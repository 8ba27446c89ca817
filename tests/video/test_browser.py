"""Headless Chromium (Debian's, never a downloaded browser) plays streams from the player page."""

from __future__ import annotations

import asyncio
import socket
import statistics
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, async_playwright

from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from web.video.app import create_video_app
from web.video.whep_client import WhepViewer

from .helpers import live_server, loopback_relay_settings, services, synthetic_stream

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; the test fails, never skips, when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make system-deps)")
    return CHROMIUM


async def _playing(page: Page, url: str) -> dict:
    await page.goto(url)
    await page.bring_to_front()  # hidden tabs do not paint, so no frame callbacks
    await page.wait_for_function(
        "window.dfrPlayer && (window.dfrPlayer.frames > 20 || window.dfrPlayer.error)",
        timeout=30_000,
    )
    first = await page.evaluate("({frames: dfrPlayer.frames, error: dfrPlayer.error})")
    assert first["error"] is None
    await asyncio.sleep(2.0)
    state = await page.evaluate(
        """async () => ({
            frames: dfrPlayer.frames, width: dfrPlayer.width, height: dfrPlayer.height,
            videoWidth: document.querySelector("video").videoWidth,
            currentTime: document.querySelector("video").currentTime,
            codec: dfrPlayer.codec, latencies: dfrPlayer.latencies.slice(-45),
            pair: await dfrPlayer.selectedPair(),
        })"""
    )
    state["advanced"] = state["frames"] - first["frames"]
    return state


async def test_chromium_plays_h264_and_vp8_from_the_player_page(
    chromium: Path, loopback_socket: socket.socket, tmp_path: Path
) -> None:
    app = create_video_app(
        [synthetic_stream(width_px=1280, height_px=720)],
        relay_settings=loopback_relay_settings(),
        recordings_dir=tmp_path / "recordings",
    )
    async with live_server(app, loopback_socket) as base_url, async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            h264_page, vp8_page = await context.new_page(), await context.new_page()
            player = f"{base_url}/video/player/drone-1"
            h264 = await _playing(h264_page, player)
            vp8 = await _playing(vp8_page, f"{player}?codec=vp8")
            assert len(services(app).relay.sessions("drone-1")) == 2
            # An aiortc viewer lays out RTP differently (payload type, extension ids):
            # the same frames go to it serialized once more, not re-encoded.
            async with httpx.AsyncClient() as client:
                aiortc_viewer = WhepViewer(f"{base_url}/whep/drone-1", codec="h264", decode=True)
                await aiortc_viewer.connect(client)
                async with asyncio.timeout(10):
                    while aiortc_viewer.report.decoded_frames < 20:  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
                h264_fanout = services(app).relay._fanouts[("drone-1", "h264")]  # noqa: SLF001
                assert h264_fanout.wire_format_count == 2
                await aiortc_viewer.close(client)
            for state, codec in ((h264, "h264"), (vp8, "vp8")):
                assert state["codec"] == codec
                assert state["videoWidth"] == 1280
                assert (state["width"], state["height"]) == (1280, 720)
                # It plays: frames advance (how many in two seconds, and how late, is
                # the video benchmark's to measure; a busy machine shows fewer).
                assert state["advanced"] > 5
                assert state["currentTime"] > 0
                assert state["pair"] == {"local": "127.0.0.1", "remote": "127.0.0.1"}
                assert len(state["latencies"]) > 5
                median_ms = statistics.median(state["latencies"])
                print(f"Chromium {codec}: median glass-to-glass latency {median_ms:.0f} ms")
                assert 0 < median_ms < 2000  # live, not a replay of a buffer
            await vp8_page.evaluate("dfrPlayer.stop()")
            assert [s.codec for s in services(app).relay.sessions()] == ["h264"]
            await h264_page.evaluate("dfrPlayer.stop()")
            assert services(app).relay.sessions() == []
        finally:
            await context.close()
        async with httpx.AsyncClient(base_url=base_url) as client:
            assert (await client.get("/video/player/no-such-drone")).status_code == 404
