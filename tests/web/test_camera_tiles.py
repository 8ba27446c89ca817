"""Fixed cameras in the consoles: on the wall beside the call's drone, and in the
dispatcher's call detail, each playing the camera's own feed (a local clip)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.deployments import edited_pueblo
from tests.video.helpers import write_h264_clip
from tests.web.conftest import Browser, LiveServer, running_server
from tests.web.test_consoles import FRAMES_IN_2_S, docked_station

pytestmark = pytest.mark.browser

SCENE = (38.2660, -104.5960)  # about 1.2 km east of the headquarters station
CAMERAS = """id,name,lat,lon,heading_deg,fov_deg,range_m,source
scene-dome,Scene dome,38.26640,-104.59600,0,360,150,file:camera.ts
scene-east,Looking west at the scene,38.26600,-104.59500,270,60,200,file:camera.ts
elsewhere,Mesa Ave & Elm St,38.23880,-104.61400,0,90,300,file:camera.ts
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Pueblo with three fixed cameras, two of which see SCENE."""
    folder = tmp_path_factory.mktemp("dfr-cameras")
    deployment = edited_pueblo(folder, r"^# \[cameras\]$", '[cameras]\nfile = "test-cameras.csv"')
    (folder / "test-cameras.csv").write_text(CAMERAS)
    write_h264_clip(folder / "camera.ts", frames=150, gop=30, width_px=320, height_px=240)
    with running_server(folder / "state", deployment) as live:
        yield live


def launch_to_scene(server: LiveServer) -> tuple[str, int]:
    station = docked_station(server)
    result = server.api(
        "POST",
        "/api/launch",
        role="pilot",
        json={
            "station_id": station["id"],
            "latitude_deg": SCENE[0],
            "longitude_deg": SCENE[1],
            "purpose": "pre_planned_event",
        },
    )
    assert result["sortie"] is not None, result
    return station["drone"]["id"], int(result["call"]["id"])


def assert_playing(page: Any, where: str) -> None:
    page.wait_for_function(
        "(where) => { const v = document.querySelector(where); return v && v.videoWidth > 0; }",
        arg=where,
        timeout=30_000,
    )
    seen = page.evaluate(FRAMES_IN_2_S, where)
    assert seen["width"] == 320, seen
    assert seen["frames"] >= 2, f"only {seen['frames']} camera frames in 2 s: {seen}"


def test_the_wall_shows_the_calls_cameras_beside_its_drone(
    browser: Browser, server: LiveServer
) -> None:
    page = browser.new_page()
    browser.login(page, "rtcc")
    page.click("[data-console=wall]")
    page.wait_for_selector("#conn[data-state=live]")
    drone_id, call_id = launch_to_scene(server)
    cameras = f".camera-tile[data-call-id='{call_id}']"
    try:
        page.wait_for_selector(f"{cameras}[data-camera-id='scene-east']", timeout=30_000)
    finally:
        browser.screenshot(page, "wall-cameras")
    shown = page.locator(cameras).evaluate_all("els => els.map(e => e.dataset.cameraId)")
    assert shown == ["scene-dome", "scene-east"]  # nearest first; the far one is not shown
    label = page.inner_text(f"{cameras}[data-camera-id='scene-dome'] .tile-label")
    assert "Scene dome" in label
    assert "44 m from the scene" in label
    # Right after the drone's own tile.
    following = page.evaluate(
        "(id) => document.querySelector(`.wall-tile[data-drone-id='${id}']`)"
        ".nextElementSibling.dataset.cameraId",
        drone_id,
    )
    assert following == "scene-dome"
    assert_playing(page, f"{cameras}[data-camera-id='scene-dome'] video")
    browser.screenshot(page, "wall-cameras")
    browser.assert_clean()


def test_the_dispatcher_lists_and_plays_the_selected_calls_cameras(
    browser: Browser, server: LiveServer
) -> None:
    call = server.api(
        "POST",
        "/api/calls",
        json={"latitude_deg": SCENE[0], "longitude_deg": SCENE[1], "priority": 3, "summary": "x"},
    )
    page = browser.new_page()
    browser.login(page, "dispatcher")
    page.goto(f"{browser.base_url}/dispatcher#call={call['id']}")
    page.wait_for_selector("#camera-list li[data-camera-id='scene-east']")
    items = page.locator("#camera-list li").evaluate_all("els => els.map(e => e.dataset.cameraId)")
    assert items == ["scene-dome", "scene-east"]
    page.click("#camera-list li[data-camera-id='scene-east'] button")
    assert_playing(page, "#camera-list li[data-camera-id='scene-east'] video")
    browser.screenshot(page, "dispatcher-cameras")
    browser.assert_clean()
