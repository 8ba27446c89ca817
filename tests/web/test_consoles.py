"""The consoles in a real browser on the real server: login, dispatch, officer, pilot, wall."""

from __future__ import annotations

import math
import re
import time
from typing import Any

import pytest

from tests.web.conftest import Browser, LiveServer

pytestmark = pytest.mark.browser

# A scene about 1.2 km east of the headquarters station, clear of every no-fly zone.
SCENE = (38.2660, -104.5960)
SUMMARY = "Shots fired, two subjects running north"
PHONE = {"width": 390, "height": 844}
FLIGHT_TIMEOUT_MS = 120_000

# Frames the page presents in 2 s (requestVideoFrameCallback) and how far currentTime moves.
FRAMES_IN_2_S = """(where) => new Promise((resolve) => {
    const v = document.querySelector(where);
    const t0 = v.currentTime;
    let frames = 0;
    const count = () => { frames += 1; v.requestVideoFrameCallback(count); };
    v.requestVideoFrameCallback(count);
    setTimeout(() => resolve({ frames, t0, t1: v.currentTime, width: v.videoWidth }), 2000);
})"""


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    north = (b[0] - a[0]) * 111_320.0
    east = (b[1] - a[1]) * 111_320.0 * math.cos(math.radians(a[0]))
    return math.hypot(north, east)


def click_map_at(page: Any, latitude_deg: float, longitude_deg: float) -> None:
    """Click the Leaflet map where a geographic point is shown."""
    x, y = page.evaluate(
        """([lat, lon]) => {
            const p = window.dfrMap.latLngToContainerPoint([lat, lon]);
            const r = window.dfrMap.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }""",
        [latitude_deg, longitude_deg],
    )
    page.mouse.click(x, y)


def watch_requests(page: Any) -> list[str]:
    """The URLs the page requests from now on."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def drone_position(page: Any, drone_id: str) -> tuple[float, float]:
    element = page.locator(f"[data-drone='{drone_id}']")
    return float(element.get_attribute("data-lat")), float(element.get_attribute("data-lon"))


def docked_station(server: LiveServer, prefer: tuple[str, ...] = ()) -> dict[str, Any]:
    """A station whose drone can launch now, preferring `prefer` in order."""
    stations = server.api("GET", "/api/stations")
    ready = [
        s
        for s in stations
        if s["drone"]["online"] and s["drone"]["docked"] and s["drone"]["sortie_id"] is None
    ]
    assert ready, f"no drone is docked and ready: {[s['drone'] for s in stations]}"
    ranked = sorted(ready, key=lambda s: prefer.index(s["id"]) if s["id"] in prefer else 99)
    return ranked[0]


def wait_for_video(page: Any, server: LiveServer, drone_id: str, where: str) -> None:
    """The drone's stream is listed, and the page shows its frames advancing."""
    deadline = time.monotonic() + 30
    streams: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        streams = server.api("GET", "/api/video/streams")
        if any(s["drone_id"] == drone_id for s in streams):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"/api/video/streams lists no stream for {drone_id} (got {streams})")
    page.wait_for_function(
        "(where) => { const v = document.querySelector(where); return v && v.videoWidth > 0; }",
        arg=where,
        timeout=30_000,
    )
    before = page.evaluate(FRAMES_IN_2_S, where)
    assert before["width"] > 0
    # Frames keep coming (how many a loaded 2-core machine decodes is the video benchmark's
    # question, not this test's).
    assert before["frames"] >= 2, f"only {before['frames']} video frames in 2 s: {before}"
    assert before["t1"] > before["t0"], f"video time did not advance: {before}"


def test_login_shows_the_detail_of_a_refusal_then_the_role_consoles(
    browser: Browser, server: LiveServer
) -> None:
    page = browser.new_page()
    page.goto(f"{browser.base_url}/")
    page.wait_for_selector("#login-form")
    browser.screenshot(page, "index")
    page.fill("#username", "dispatcher")
    page.fill("#password", "not-the-password")
    with page.expect_response("**/api/login"):
        page.click("#login-button")
    page.wait_for_selector("#login-error:not(.hidden)")
    assert "wrong password" in page.inner_text("#login-error")

    page.fill("#password", server.passwords["dispatcher"])
    page.click("#login-button")
    page.wait_for_selector("#consoles a")
    consoles = page.locator("#consoles a").evaluate_all("els => els.map(e => e.dataset.console)")
    assert consoles == ["dispatcher", "wall"]
    browser.screenshot(page, "index-consoles")

    # Console errors from the refused login (a 401 the browser logs) are expected here.
    browser.errors = [e for e in browser.errors if "401" not in e]
    browser.assert_clean()


def test_dispatcher_sends_the_recommended_drone_and_shares_it_with_an_officer(
    browser: Browser, server: LiveServer
) -> None:
    page = browser.new_page()
    browser.login(page, "dispatcher")
    page.click("[data-console=dispatcher]")
    page.wait_for_function("() => document.querySelectorAll('[data-drone]').length === 3")
    assert page.locator("#conn").get_attribute("data-state") == "live"
    assert page.locator("path.zone.no_fly").count() >= 1, "no-fly zones are not drawn"
    assert page.locator("path.zone.operational_area").count() == 1
    # The built-in deployment has no tile server: no tiles, so nothing to credit.
    assert page.locator(".leaflet-tile, .leaflet-control-attribution").count() == 0

    # A call created by clicking the map.
    click_map_at(page, *SCENE)
    page.wait_for_selector("#new-call-form")
    page.select_option("#new-call-priority", "1")
    page.select_option("#new-call-type", "shots_fired")
    page.fill("#new-call-summary", SUMMARY)
    page.click("#new-call-create")
    page.wait_for_selector(f".call-row:has-text('{SUMMARY}')")
    row = page.locator(f".call-row:has-text('{SUMMARY}')")
    assert row.get_attribute("aria-pressed") == "true"
    assert "P1" in row.inner_text()
    # Its type, and the category the public flight log will show for it (never the text).
    assert page.inner_text("#call-type") == (
        "Type: shots_fired · public flight log: Weapons and shots fired"
    )

    # The recommendation: station, ETA and route on the map, alternatives or exclusions.
    send = page.locator("#send-best")
    send.wait_for()
    label = send.inner_text()
    assert re.fullmatch(r"Send .+ — ETA \d+ s", label.replace("\n", " ")), label
    assert page.locator("path.route-recommended").count() == 1
    assert page.locator("#alternatives li, #excluded li").count() >= 1
    station_id = send.get_attribute("data-station-id")
    deployment = server.api("GET", "/api/deployment")
    drone_id = next(s["drone_id"] for s in deployment["stations"] if s["id"] == station_id)
    start = drone_position(page, drone_id)

    # One click sends it; the drone flies on the map and reaches the scene.
    send.click()
    page.wait_for_selector("#sortie-state [data-state]")
    page.wait_for_function(
        """([id, lat, lon]) => {
            const e = document.querySelector(`[data-drone='${id}']`);
            return e && Math.hypot(e.dataset.lat - lat, e.dataset.lon - lon) > 0.0005;
        }""",
        arg=[drone_id, *start],
        timeout=FLIGHT_TIMEOUT_MS,
    )
    page.wait_for_selector("#sortie-state [data-state=on_scene]", timeout=FLIGHT_TIMEOUT_MS)
    page.wait_for_selector(f"[data-drone='{drone_id}'][data-state=on_scene]")
    assert metres(drone_position(page, drone_id), SCENE) < 150
    assert "on scene" in page.inner_text(f".call-row:has-text('{SUMMARY}')").lower()

    # The officer link.
    page.click("#share-button")
    share_url = page.input_value("#share-url")
    assert re.fullmatch(rf"{re.escape(browser.base_url)}/officer#token=[\w.\-]+", share_url)
    browser.screenshot(page, "dispatcher")

    # The officer's phone: no account, only the link.
    browser.context.grant_permissions(["geolocation"], origin=browser.base_url)
    browser.context.set_geolocation({"latitude": 38.2600, "longitude": -104.6050})
    phone = browser.new_page(**PHONE)
    phone_requests = watch_requests(phone)
    phone.goto(share_url)
    phone.bring_to_front()  # a hidden tab paints no video frames
    phone.wait_for_selector("#officer-status[data-state=on_scene]")
    assert phone.inner_text("#officer-status") == "ON SCENE"
    assert SUMMARY in phone.inner_text("#officer-call")
    phone.wait_for_selector(f"#map [data-drone='{drone_id}']")
    phone.wait_for_selector("#map .scene-icon")
    phone.wait_for_selector("#map .officer-icon")
    browser.screenshot(phone, "officer-phone")
    wait_for_video(phone, server, drone_id, "#video")
    browser.screenshot(phone, "officer-phone")
    assert not [u for u in phone_requests if "/api/video/streams" in u], "the officer polls"
    browser.assert_clean()


def test_officer_link_that_does_not_verify_explains_itself(browser: Browser) -> None:
    page = browser.new_page(**PHONE)
    page.goto(f"{browser.base_url}/officer#token=not-a-real-link")
    page.wait_for_selector(".page-error")
    assert "no longer works" in page.inner_text(".page-error")
    assert not browser.blocked


def test_pilot_launches_holds_resumes_and_confirms_destructive_commands(
    browser: Browser, server: LiveServer
) -> None:
    page = browser.new_page()
    browser.login(page, "pilot")
    page.click("[data-console=pilot]")
    cards = page.locator(".station-card")
    page.wait_for_function("() => document.querySelectorAll('.station-card .stat').length >= 18")
    assert cards.count() == 3
    for i in range(3):
        card = cards.nth(i)
        assert card.get_attribute("data-state") != "offline"
        assert card.locator(".stat:has-text('Link') .stat-value").inner_text() == "up"
    # Each card says which ETA figures rank its drone: its own, or the deployment's.
    page.wait_for_function(
        "() => document.querySelectorAll('.station-card .eta-line').length === 3"
    )
    for i in range(3):
        card = cards.nth(i)
        drone = card.get_attribute("data-drone-id")
        eta = server.api("GET", f"/api/drones/{drone}/eta-calibration", role="pilot")
        line = card.locator(".eta-line")
        assert line.get_attribute("data-eta-calibrated") == str(eta["calibrated"]).lower()
        text = line.inner_text()
        assert ("calibrated from" if eta["calibrated"] else "deployment default") in text
        assert f"launch {eta['launch_latency_s']:.1f} s" in text
        assert f"accel {eta['horizontal_accel_m_s2']:.2f} m/s²" in text

    # Launch a docked drone to a point picked on the map, well away from its station.
    station = docked_station(server, prefer=("eastside", "bessemer", "hq"))
    drone_id = station["drone"]["id"]
    target = (station["latitude_deg"] + 0.022, station["longitude_deg"] - 0.004)
    page.select_option("#launch-station", station["id"])
    page.check("input[name=target][value=point]")
    page.click("#pick-launch-point")
    page.wait_for_selector("#map-hint:not(.hidden)")
    click_map_at(page, *target)
    launch = page.locator("#launch-button")
    # A flight without a call is bound to a purpose from the fixed list: none, no launch.
    assert launch.is_disabled()
    assert launch.inner_text() == f"Choose a purpose to launch {drone_id}"
    purposes = page.locator("#launch-purpose option").evaluate_all("els => els.map(e => e.value)")
    assert purposes == ["", "training", "maintenance_test", "pre_planned_event"]
    page.select_option("#launch-purpose", "maintenance_test")
    assert launch.inner_text() == f"Launch {drone_id} to the point"
    launch.click()

    card = f".station-card[data-drone-id='{drone_id}']"
    mode = f"{card} .stat:has-text('Mode') .stat-value"
    page.wait_for_selector(f"{card}[aria-pressed=true]")
    page.wait_for_selector(f"{card}[data-state=en_route]", timeout=FLIGHT_TIMEOUT_MS)
    assert page.is_enabled("#commands [data-command=hold]")

    page.click("#commands [data-command=hold]")
    page.wait_for_selector(f"{mode}:text-is('HOLD')", timeout=30_000)
    page.click("#commands [data-command=resume]")
    page.wait_for_selector(f"{mode}:text-is('MISSION')", timeout=30_000)

    # Land and abort ask first; cancelling sends nothing.
    for command in ("land", "abort"):
        page.click(f"#commands [data-command={command}]")
        dialog = page.locator("dialog.confirm[open]")
        dialog.wait_for()
        assert drone_id in dialog.inner_text()
        dialog.locator("[data-action=cancel]").click()
        dialog.wait_for(state="detached")
    actions = [e["action"] for e in server.api("GET", "/api/audit", role="pilot")]
    assert "command.hold" in actions
    assert "command.resume" in actions
    assert "command.land" not in actions
    assert "command.abort" not in actions

    # Who launched the sortie, and when, and why it flies without a call.
    sortie_row = f"#sortie-list li:has-text('{drone_id}')"
    page.wait_for_selector(f"{sortie_row}:has-text('launched by pilot at')")
    assert "Maintenance test (no call)" in page.inner_text(sortie_row)
    assert "Maintenance test (no call)" in page.inner_text(f"{card} .flight-line >> nth=-1")
    browser.screenshot(page, "pilot")

    # Return, confirmed: the drone heads home.
    page.click("#commands [data-command=return]")
    page.locator("dialog.confirm[open] [data-action=confirm]").click()
    page.wait_for_selector(f"{card}[data-state=returning]", timeout=30_000)
    browser.assert_clean()


def test_wall_shows_a_new_stream_when_a_drone_launches(
    browser: Browser, server: LiveServer
) -> None:
    page = browser.new_page()
    wall_requests = watch_requests(page)
    browser.login(page, "rtcc")
    page.click("[data-console=wall]")
    page.wait_for_selector("#conn[data-state=live]")
    station = docked_station(server)
    drone_id = station["drone"]["id"]
    result = server.api(
        "POST",
        "/api/launch",
        role="pilot",
        json={
            "station_id": station["id"],
            "latitude_deg": station["latitude_deg"] - 0.012,
            "longitude_deg": station["longitude_deg"] + 0.004,
            "purpose": "pre_planned_event",
        },
    )
    assert result["sortie"] is not None, result
    tile = f".wall-tile[data-drone-id='{drone_id}']"
    call_label = f"{tile} .tile-call:has-text('Call #{result['call']['id']}')"
    try:
        # The drone's stream may be on the wall already; its label turns to the call.
        page.wait_for_selector(call_label, timeout=30_000)
    finally:
        browser.screenshot(page, "wall")
    wait_for_video(page, server, drone_id, f"{tile} video")
    browser.screenshot(page, "wall")
    # The stream list comes over the console socket (on connect, then as sorties start and end).
    assert not [u for u in wall_requests if "/api/video/streams" in u], "the wall polls the streams"
    browser.assert_clean()
