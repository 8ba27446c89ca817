"""Overwatch in the browser: the dispatcher keeps a call watched with one tick and sends
a drone; when a relief takes over the call, the officer's phone (a share link) switches
its video and its map to the relief drone without reloading."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deployments import short_battery_pueblo
from tests.web.conftest import Browser, LiveServer, running_server
from tests.web.test_consoles import PHONE, wait_for_video

pytestmark = pytest.mark.browser

SCENE = (38.2560, -104.6080)  # 1.1 km from hq, 2 km from bessemer
SUMMARY = "Barricaded subject, perimeter set"
#: The relief is due some 300 vehicle seconds after the first drone reaches the scene.
RELIEF_TIMEOUT_MS = 240_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("overwatch")
    with running_server(folder / "state", deployment=short_battery_pueblo(folder)) as live:
        yield live


def test_the_officers_video_follows_the_call_to_the_relief(
    browser: Browser, server: LiveServer
) -> None:
    body = {"latitude_deg": SCENE[0], "longitude_deg": SCENE[1], "priority": 1}
    call = server.api("POST", "/api/calls", json={**body, "summary": SUMMARY})
    wall = browser.new_page()
    browser.login(wall, "rtcc")
    wall.click("[data-console=wall]")
    wall.wait_for_selector("#conn[data-state=live]")

    page = browser.new_page()
    browser.login(page, "dispatcher")
    page.click("[data-console=dispatcher]")
    page.click(f".call-row:has-text('{SUMMARY}')")
    page.check("#call-overwatch")
    page.wait_for_selector(".toast:has-text('kept watched')")
    assert server.api("GET", f"/api/calls/{call['id']}")["overwatch"] is True
    send = page.locator("#send-best")
    send.wait_for()
    send.click()
    page.wait_for_selector("#sortie-state [data-state]")

    link = server.api("POST", f"/api/calls/{call['id']}/share")
    phone = browser.new_page(**PHONE)
    phone.goto(link["url"])
    phone.bring_to_front()  # a hidden tab paints no video frames
    phone.wait_for_selector("#officer-status[data-state=on_scene]", timeout=120_000)
    first = phone.evaluate("() => window.dfrOfficer.state.sortie.drone_id")
    wait_for_video(phone, server, first, "#video")
    phone.evaluate("() => { window.notReloaded = true; }")

    # The relief takes the call over: the same page now plays the relief's video (its
    # player plays once the relief's own frames arrive).
    phone.wait_for_function(
        "(first) => { const s = window.dfrOfficer.state;"
        " return s.playerStream && s.playerStream !== first && s.sortie.drone_id !== first"
        " && s.player && s.player.state === 'playing'; }",
        arg=first,
        timeout=RELIEF_TIMEOUT_MS,
    )
    relief = phone.evaluate("() => window.dfrOfficer.state.sortie.drone_id")
    assert phone.evaluate("() => window.notReloaded") is True
    wait_for_video(phone, server, relief, "#video")
    assert phone.inner_text("#officer-status") == "ON SCENE"
    phone.wait_for_selector(f"#map [data-drone='{relief}']")
    browser.screenshot(phone, "officer-phone-overwatch-relief")

    # The wall, open all along, shows the relief's stream for the call.
    wall.bring_to_front()
    tile = f".wall-tile[data-drone-id='{relief}']"
    wall.wait_for_selector(f"{tile} .tile-call:has-text('Call #{call['id']}')")
    wait_for_video(wall, server, relief, f"{tile} video")
    browser.screenshot(wall, "wall-overwatch-relief")

    sorties = server.api("GET", "/api/sorties")
    mine = {s["drone_id"]: s for s in sorties if s["call_id"] == call["id"]}
    assert mine[relief]["relieves"] == mine[first]["id"]
    page.bring_to_front()
    browser.screenshot(page, "dispatcher-overwatch")
    server.api("POST", f"/api/calls/{call['id']}/close")
    browser.assert_clean()
