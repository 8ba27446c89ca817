"""An officer's "drone to me" on a phone-sized Chromium with a faked position: the officer
logs in, presses the button, the pilot confirms (Pueblo's officer policy), the drone
arrives, the officer turns on follow me and walks, and the drone's target follows;
with location denied, the page says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.web.conftest import Browser, LiveServer

pytestmark = pytest.mark.browser

SCENE = {"latitude": 38.2600, "longitude": -104.6050, "accuracy": 6}
PHONE = {"width": 390, "height": 844}


def phone(driver: Any, server: LiveServer, folder: Path, geolocation: dict | None) -> Browser:
    context = driver.chromium.launch_persistent_context(
        user_data_dir=str(folder),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        geolocation=geolocation,
        permissions=["geolocation"] if geolocation is not None else [],
    )
    return Browser(context, server.base_url, server)


@pytest.fixture
def officer_phone(playwright_driver: Any, server: LiveServer, tmp_path: Path) -> Iterator[Browser]:
    browser = phone(playwright_driver, server, tmp_path / "phone", SCENE)
    try:
        yield browser
    finally:
        browser.context.close()


def open_officer_page(browser: Browser) -> Any:
    page = browser.new_page(**PHONE)
    browser.login(page, "officer")
    page.click("[data-console=officer]")
    page.wait_for_url("**/officer")
    return page


def test_denied_location_is_said_plainly(
    playwright_driver: Any, server: LiveServer, tmp_path: Path
) -> None:
    browser = phone(playwright_driver, server, tmp_path / "denied", None)
    try:
        page = browser.new_page(**PHONE)
        browser.login(page, "officer")
        page.goto(f"{server.base_url}/officer")
        page.wait_for_selector("#drone-to-me:not([hidden])")
        page.click("#dtm-button")
        page.wait_for_selector("#dtm-message[data-kind=error]")
        assert "Location is denied" in page.inner_text("#dtm-message")
        browser.screenshot(page, "officer-location-denied")
        browser.assert_clean()
    finally:
        browser.context.close()


def test_drone_to_me_launches_arrives_and_follows(
    officer_phone: Browser, server: LiveServer
) -> None:
    page = open_officer_page(officer_phone)
    page.wait_for_selector("#drone-to-me:not([hidden])")
    page.select_option("#dtm-priority", "1")
    officer_phone.screenshot(page, "officer-drone-to-me")
    page.click("#dtm-button")
    page.wait_for_selector("#officer-status[data-state=awaiting_pilot]", timeout=30_000)
    assert page.locator("#drone-to-me").is_hidden()
    call_id = page.evaluate("window.dfrOfficer.state.callId")
    call = server.api("GET", f"/api/calls/{call_id}")
    assert (call["source"], call["requester"], call["priority"]) == ("officer", "officer", 1)
    assert call["policy"] == "officer-to-me"

    sortie = server.api("GET", f"/api/calls/{call_id}/sortie")
    server.api("POST", f"/api/sorties/{sortie['id']}/confirm", role="pilot")
    page.wait_for_selector("#officer-status[data-state=on_scene]", timeout=180_000)
    page.wait_for_selector("#video-box[data-state=playing]", timeout=60_000)

    page.check("#follow-me")
    page.wait_for_function("() => window.dfrOfficer.follow && window.dfrOfficer.follow.follow")
    walked = {**SCENE, "latitude": SCENE["latitude"] + 0.0004}  # 45 m north
    officer_phone.context.set_geolocation(walked)
    page.wait_for_function(
        "() => window.dfrOfficer.follow && window.dfrOfficer.follow.outcome === 'repositioned'",
        timeout=30_000,
    )
    target = page.evaluate("window.dfrOfficer.follow.target_latitude_deg")
    assert abs(target - walked["latitude"]) < 1e-9
    assert "Drone follows you" in page.inner_text("#follow-message")
    officer_phone.screenshot(page, "officer-follow-me")

    # No longer needed: one tap (and a confirmation) sends the drone home and closes the
    # request; the page offers "Drone to me" again.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-request")
    page.wait_for_selector("#drone-to-me:not([hidden])", timeout=30_000)
    assert server.api("GET", f"/api/calls/{call_id}")["status"] == "closed"
    home = server.api("GET", f"/api/sorties/{sortie['id']}")
    assert home["state"] in ("returning", "landed", "docked"), home
    officer_phone.assert_clean()
