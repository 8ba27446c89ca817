"""A deployment whose launches wait for the pilot: the pilot console shows and confirms them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deployments import edited_pueblo
from tests.web.conftest import Browser, LiveServer, running_server

pytestmark = pytest.mark.browser

SCENE = (38.2700, -104.6000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The Pueblo deployment, changed to launch_policy = "pilot_confirm"."""
    folder = tmp_path_factory.mktemp("pilot-confirm")
    toml = edited_pueblo(folder, r'^launch_policy\s*=\s*"[^"]*"', 'launch_policy = "pilot_confirm"')
    with running_server(folder / "state", deployment=toml) as live:
        yield live


def test_pilot_confirms_a_launch_the_dispatcher_sent(browser: Browser, server: LiveServer) -> None:
    page = browser.new_page()
    browser.login(page, "pilot")
    page.click("[data-console=pilot]")
    page.wait_for_selector("#pending-panel:not(.hidden)")
    assert "pilot confirmation" in page.inner_text("#deployment-name")

    call = server.api(
        "POST",
        "/api/calls",
        json={
            "latitude_deg": SCENE[0],
            "longitude_deg": SCENE[1],
            "priority": 1,
            "summary": "Armed robbery in progress",
            "source": "cad",
        },
    )
    sent = server.api("POST", f"/api/calls/{call['id']}/dispatch", json={})
    sortie_id = sent["sortie"]["id"]
    drone_id = sent["sortie"]["drone_id"]

    confirm = page.locator(f"[data-confirm-sortie='{sortie_id}']")
    confirm.wait_for()
    assert "Armed robbery" in page.inner_text("#pending-list")
    browser.screenshot(page, "pilot-confirm")
    confirm.click()
    page.wait_for_selector(f"[data-confirm-sortie='{sortie_id}']", state="detached")
    page.wait_for_selector(
        f".station-card[data-drone-id='{drone_id}'][data-state=en_route]", timeout=60_000
    )
    page.wait_for_selector(
        f"#sortie-list li[data-sortie-id='{sortie_id}']:has-text('launched by pilot at')"
    )
    browser.assert_clean()


def test_the_pilot_sees_the_altitude_limit_a_route_is_flown_under(
    browser: Browser, server: LiveServer
) -> None:
    page = browser.new_page()
    browser.login(page, "pilot")
    page.click("[data-console=pilot]")
    page.wait_for_selector("#pending-panel:not(.hidden)")
    # A scene by the river: every route to it passes under the heliport's 50 m ceiling.
    call = server.api(
        "POST",
        "/api/calls",
        json={
            "latitude_deg": 38.2520,
            "longitude_deg": -104.5930,
            "priority": 2,
            "summary": "Person in the river",
            "source": "cad",
        },
    )
    sent = server.api("POST", f"/api/calls/{call['id']}/dispatch", json={})
    assert sent["recommendation"]["candidates"][0]["altitude_m"] == 45.0
    sortie_id = sent["sortie"]["id"]
    limit = page.locator(f"#pending-list li[data-sortie-id='{sortie_id}'] [data-altitude-limit]")
    limit.wait_for()
    assert limit.inner_text() == (
        "Altitude limit 45 m: under 'Riverwalk heliport approach' (ceiling 50 m, 5 m clearance)"
    )
    browser.screenshot(page, "pilot-altitude-limit")
    browser.assert_clean()
