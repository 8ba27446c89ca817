"""Launch policies on the pages, in a real browser on the real server: a gunshot a policy
launches is shown on the pilot console as "launched by policy" with Abort, and on the
dispatcher page as auto-launched; a CAD call a policy holds for the pilot counts down on
the pilot console, is confirmed with one click, or expires back to the dispatchers."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.deployments import edited_pueblo
from tests.web.conftest import Browser, LiveServer, running_server

pytestmark = pytest.mark.browser

WEBHOOK_TOKEN = "browser-test-webhook-secret"
EAST_SIDE = {"latitude": 38.2700, "longitude": -104.5600}  # East Side patrol district
DOWNTOWN = {"latitude": 38.2600, "longitude": -104.6050}
FLIGHT_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Pueblo, its night-only gunshot policy made to apply all day, webhooks on."""
    folder = tmp_path_factory.mktemp("auto-launch-pages")
    toml = edited_pueblo(folder, r'^hours = "22:00-06:00"$', 'hours = "00:00-24:00"')
    with running_server(folder / "state", deployment=toml, cad_webhook_token=WEBHOOK_TOKEN) as live:
        yield live


def post_webhook(server: LiveServer, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{server.base_url}/api/webhooks/{kind}",
        json=body,
        headers={"X-DFR-Token": WEBHOOK_TOKEN},
        timeout=15,
    )
    assert response.status_code == 201, response.text
    return response.json()


def wait_drones_prepared(server: LiveServer, timeout_s: float = 180.0) -> None:
    """Until every drone is docked, free and its dock set-up verified: a launch nobody
    clicked takes no other drone."""
    deadline = time.monotonic() + timeout_s
    while True:
        stations = server.api("GET", "/api/stations")
        if all(s["drone"]["dock_prepared"] and s["drone"]["sortie_id"] is None for s in stations):
            return
        assert time.monotonic() < deadline, f"drones not ready: {[s['drone'] for s in stations]}"
        time.sleep(0.5)


def open_console(browser: Browser, role: str, console: str) -> Any:
    page = browser.new_page()
    browser.login(page, role)
    page.click(f"[data-console={console}]")
    page.wait_for_selector(".leaflet-container")
    return page


def test_a_gunshot_a_policy_launches_shows_on_the_pilot_and_dispatcher_pages(
    browser: Browser, server: LiveServer
) -> None:
    pilot = open_console(browser, "pilot", "pilot")
    dispatcher = open_console(browser, "dispatcher", "dispatcher")
    wait_drones_prepared(server)

    call = post_webhook(
        server,
        "gunshot",
        {"alert_id": "SS-WEB-1", **EAST_SIDE, "rounds": 3, "confidence": 0.93},
    )
    assert call["policy_outcome"] == "launched", call["policy_reason"]
    sortie = server.api("GET", f"/api/calls/{call['id']}/sortie")

    # The pilot console: a banner nobody can miss, with Abort.
    banner = pilot.locator(f"#policy-strip [data-policy-sortie='{sortie['id']}']")
    banner.wait_for()
    assert "Launched by policy gunshot-night" in (banner.text_content() or "")
    assert f"call #{call['id']}" in banner.inner_text()
    pilot.wait_for_selector(
        f".station-card[data-drone-id='{sortie['drone_id']}'][data-state=en_route]",
        timeout=FLIGHT_TIMEOUT_MS,
    )
    browser.screenshot(pilot, "pilot-launched-by-policy")

    # The dispatcher page: the call says a policy launched it, and with what figures.
    row = dispatcher.locator(f".call-row[data-call-id='{call['id']}']")
    row.wait_for()
    assert "auto" in row.inner_text().lower()
    row.click()
    note = dispatcher.locator("#call-policy[data-outcome=launched]")
    note.wait_for()
    assert "Auto-launched by policy gunshot-night" in note.inner_text()
    assert "3 rounds · confidence 93%" in dispatcher.inner_text("#call-sensor")
    dispatcher.wait_for_selector("#sortie-launched-by:has-text('policy:gunshot-night')")
    browser.screenshot(dispatcher, "dispatcher-auto-launched")

    # The pilot aborts it: the banner goes, and the call is the dispatchers' again.
    pilot.click(f"[data-policy-abort='{sortie['id']}']")
    pilot.click("dialog.confirm [data-action=confirm]")
    banner.wait_for(state="detached", timeout=FLIGHT_TIMEOUT_MS)
    dispatcher.locator("#call-policy[data-outcome=aborted]").wait_for(timeout=FLIGHT_TIMEOUT_MS)
    assert dispatcher.text_content("#call-status") == "new"
    browser.assert_clean()


def test_a_launch_held_for_the_pilot_counts_down_and_is_confirmed_with_one_click(
    browser: Browser, server: LiveServer
) -> None:
    pilot = open_console(browser, "pilot", "pilot")
    wait_drones_prepared(server)
    call = post_webhook(
        server,
        "cad",
        {
            "incident_id": "P26-WEB-1",
            **DOWNTOWN,
            "priority": 1,
            "nature": "Armed robbery in progress",
            "call_type": "robbery",
        },
    )
    assert call["policy_outcome"] == "awaiting_pilot", call["policy_reason"]
    held = pilot.locator("#pending-list li[data-policy='cad-p1-violent']")
    held.wait_for()
    assert "Held by policy cad-p1-violent" in held.inner_text()
    assert "then it expires" in held.inner_text()
    countdown = held.locator(".countdown")
    assert re.fullmatch(r"\d+ s", countdown.inner_text())
    assert 0 < int(countdown.get_attribute("data-seconds-left") or "0") <= 20
    browser.screenshot(pilot, "pilot-policy-countdown")

    sortie = server.api("GET", f"/api/calls/{call['id']}/sortie")
    held.locator(f"[data-confirm-sortie='{sortie['id']}']").click()
    held.wait_for(state="detached")
    pilot.wait_for_selector(
        f".station-card[data-drone-id='{sortie['drone_id']}'][data-state=en_route]",
        timeout=FLIGHT_TIMEOUT_MS,
    )
    assert server.api("GET", f"/api/sorties/{sortie['id']}")["launched_by"] == "pilot"
    # Confirmed by a person: no "launched by policy" banner for it.
    assert pilot.locator(f"[data-policy-sortie='{sortie['id']}']").count() == 0
    server.api(
        "POST",
        f"/api/drones/{sortie['drone_id']}/commands",
        role="pilot",
        json={"command": "abort"},
    )
    browser.assert_clean()


def test_a_launch_nobody_confirms_expires_back_to_the_dispatchers(
    browser: Browser, server: LiveServer
) -> None:
    pilot = open_console(browser, "pilot", "pilot")
    dispatcher = open_console(browser, "dispatcher", "dispatcher")
    wait_drones_prepared(server)
    call = post_webhook(
        server,
        "cad",
        {
            "incident_id": "P26-WEB-2",
            **DOWNTOWN,
            "priority": 1,
            "nature": "Shots fired near the river",
            "call_type": "shots_fired",
        },
    )
    assert call["policy_outcome"] == "awaiting_pilot", call["policy_reason"]
    dispatcher.click(f".call-row[data-call-id='{call['id']}']")
    dispatcher.wait_for_selector("#sortie .note:has-text('Held by policy cad-p1-violent')")
    held = pilot.locator("#pending-list li[data-policy='cad-p1-violent']")
    held.wait_for()
    # Nobody confirms: the server lets it expire after its 20 s.
    held.wait_for(state="detached", timeout=60_000)
    note = dispatcher.locator("#call-policy[data-outcome=expired]")
    note.wait_for(timeout=30_000)
    assert "the launch expired" in note.inner_text()
    assert "not confirmed within 20 s" in note.inner_text()
    assert dispatcher.text_content("#call-status") == "new"
    # Left to a person, it is dispatched the usual way.
    dispatcher.locator("#send-best").wait_for()
    browser.screenshot(dispatcher, "dispatcher-policy-expired")
    browser.assert_clean()
