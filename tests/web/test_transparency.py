"""The public flight log page in Chromium, on the real server after real (simulated) flights:
no login, desktop, phone and print; an admin holds a flight back from the dispatcher page
and the page counts it instead of listing it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.deployments import edited_pueblo
from tests.web.conftest import Browser, LiveServer, running_server

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
SCENE = (38.2590, -104.6050)  # near the headquarters station
NATURE = "Burglary in progress at 1234 Elm Street, caller Jane Q. Public"
TRAINING_POINT = (38.2400, -104.6200)  # near Bessemer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Pueblo, flights published as soon as they end."""
    folder = tmp_path_factory.mktemp("transparency")
    toml = edited_pueblo(folder, r"^delay_h\s*=.*$", "delay_h = 0")
    with running_server(folder / "state", deployment=toml) as live:
        yield live


def wait_until(fetch, done, what: str, timeout_s: float = 150.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value}"
        time.sleep(0.5)


def fly_and_return(server: LiveServer, sortie: dict[str, Any]) -> None:
    """Wait for the sortie to reach the scene, send it home, wait until it has ended."""
    path = f"/api/sorties/{sortie['id']}"
    wait_until(lambda: server.api("GET", path), lambda s: s["state"] == "on_scene", "on scene")
    server.api(
        "POST",
        f"/api/drones/{sortie['drone_id']}/commands",
        role="pilot",
        json={"command": "return"},
    )
    wait_until(
        lambda: server.api("GET", path), lambda s: s["state"] in ("docked", "landed"), "landing"
    )


@pytest.fixture(scope="module")
def flights(server: LiveServer) -> dict[str, dict[str, Any]]:
    """Two flights, flown at once: a burglary call from HQ, training from Bessemer."""
    call = server.api(
        "POST",
        "/api/calls",
        json={
            "latitude_deg": SCENE[0],
            "longitude_deg": SCENE[1],
            "priority": 2,
            "summary": NATURE,
            "source": "cad",
            "call_type": "burglary",
        },
    )
    burglary = server.api("POST", f"/api/calls/{call['id']}/dispatch", json={"station_id": "hq"})
    training = server.api(
        "POST",
        "/api/launch",
        role="pilot",
        json={
            "station_id": "bessemer",
            "latitude_deg": TRAINING_POINT[0],
            "longitude_deg": TRAINING_POINT[1],
            "purpose": "training",
        },
    )
    for sent in (burglary, training):
        fly_and_return(server, sent["sortie"])
    return {"burglary": burglary, "training": training}


def open_log(browser: Browser, **size: int) -> Any:
    page = browser.new_page(**size)
    response = page.goto(f"{browser.base_url}/transparency")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("body[data-loaded=true]")
    return page


def test_anyone_reads_the_flight_log_on_a_desktop_a_phone_and_paper(
    browser: Browser, server: LiveServer, flights: dict[str, dict[str, Any]]
) -> None:
    page = open_log(browser)  # a fresh profile: nobody is logged in
    burglary = f"tr[data-flight-id='{flights['burglary']['sortie']['id']}']"
    training = f"tr[data-flight-id='{flights['training']['sortie']['id']}']"
    assert page.inner_text(f"{burglary} td.category") == "Property crime"
    assert page.inner_text(f"{training} td.category") == "Training"
    assert page.inner_text(f"{training} td[data-label=Priority]") == "—"
    assert page.inner_text(f"{burglary} td[data-label=Priority]") == "P2"
    assert page.inner_text(f"{burglary} td[data-label=Station]") == "PPD Headquarters"
    assert page.locator(f"{burglary} svg.sketch polyline").count() == 1
    # Every column fits the window: nothing scrolls sideways on a desktop either.
    box = page.evaluate("() => document.querySelector('#flights').scrollWidth")
    assert box <= page.evaluate("() => document.querySelector('#flights').clientWidth")
    assert page.inner_text("#held-back strong") == "0"
    assert page.locator("table.months tbody tr").count() >= 1
    text = page.inner_text("body")
    for private in ("Elm Street", "Jane", "dispatcher", "pilot"):
        assert private not in text
    # The downloads are the files the API serves, with no login.
    for link in page.locator(".downloads a").evaluate_all("els => els.map(e => e.href)"):
        assert httpx.get(link, timeout=10).status_code == 200
    browser.screenshot(page, "transparency", full_page=True)

    phone = open_log(browser, **PHONE)
    width = phone.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways on a phone: {width}"
    # Each flight is a card: its labels are shown, the table head is not.
    assert phone.locator("table.flights thead").bounding_box()["height"] <= 1
    label = phone.evaluate(
        """(row) => getComputedStyle(document.querySelector(`${row} td.category`), '::before')
            .content""",
        burglary,
    )
    assert "Category" in label
    browser.screenshot(phone, "transparency-phone", full_page=True)

    page.emulate_media(media="print")
    assert page.locator(".downloads").is_hidden()
    assert page.locator("table.flights thead").is_visible()
    browser.screenshot(page, "transparency-print", full_page=True)
    browser.assert_clean()


def test_an_admin_holds_a_flight_back_and_the_log_counts_it(
    browser: Browser, server: LiveServer, flights: dict[str, dict[str, Any]]
) -> None:
    call_id = flights["burglary"]["call"]["id"]
    sortie_id = flights["burglary"]["sortie"]["id"]
    page = browser.new_page()
    browser.login(page, "admin")
    page.goto(f"{browser.base_url}/dispatcher#call={call_id}")
    row = page.locator("#holds [data-hold=publication]")
    row.wait_for()
    assert row.get_attribute("data-held") == "false"
    row.locator("[data-hold-action=place]").click()
    dialog = page.locator("dialog.confirm[open]")
    confirm = dialog.locator("[data-action=confirm]")
    assert confirm.is_disabled()  # no reason, no hold
    dialog.locator("textarea").fill("Victim's home: case 24-0815")
    confirm.click()
    page.wait_for_selector("#holds [data-hold=publication][data-held=true]")
    assert "Victim's home" in page.inner_text("#holds")
    # The evidence hold is there for an admin too; a dispatcher sees neither control.
    assert page.locator("#holds [data-hold=evidence] [data-hold-action=place]").count() == 1
    browser.screenshot(page, "dispatcher-holds")
    holds = server.api("GET", f"/api/sorties/{sortie_id}/holds")
    assert holds["held_from_public_log"] is True
    assert holds["holds"][-1]["placed_by"] == "admin"

    public = open_log(browser)
    assert public.locator(f"tr[data-flight-id='{sortie_id}']").count() == 0
    assert public.inner_text("#held-back strong") == "1"
    training = flights["training"]["sortie"]["id"]
    assert public.locator(f"tr[data-flight-id='{training}']").count() == 1
    assert "24-0815" not in public.inner_text("body")

    dispatcher = browser.new_page()
    browser.login(dispatcher, "dispatcher")
    dispatcher.goto(f"{browser.base_url}/dispatcher#call={call_id}")
    dispatcher.wait_for_selector("#sortie")
    assert dispatcher.locator("#holds").count() == 0
    browser.assert_clean()
