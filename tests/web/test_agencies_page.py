"""Several agencies (the Albuquerque example): the dispatcher page of one agency shows
another agency's drone as a candidate with its agency and the mutual-aid rule, and the
launch sent waits in the pilot console of the drone's agency, not the caller's."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from dfr.auth import Role
from dfr.loopback import free_udp_block
from tests.web.conftest import Browser, LiveServer, running_server

pytestmark = pytest.mark.browser

ALBUQUERQUE = Path(str(resources.files("dfr") / "data" / "albuquerque" / "albuquerque.toml"))
ISLETA_SCENE = (35.0200, -106.6000)
SUMMARY = "Vehicle crash on the frontage road"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    users = {
        "isleta-dispatcher": (Role.DISPATCHER, "isleta", ()),
        "bcso-dispatcher": (Role.DISPATCHER, "bcso", ()),
        "bcso-pilot": (Role.PILOT, "bcso", ()),
        "isleta-pilot": (Role.PILOT, "isleta", ()),
    }
    state = tmp_path_factory.mktemp("agencies") / "state"
    with running_server(
        state, deployment=ALBUQUERQUE, users=users, sim_port_base=free_udp_block(4)
    ) as live:
        yield live


def test_the_dispatcher_sees_a_cross_agency_candidate_with_its_rule(
    browser: Browser, server: LiveServer
) -> None:
    page = browser.new_page()
    browser.login(page, "isleta-dispatcher")
    page.click("[data-console=dispatcher]")
    lat, lon = ISLETA_SCENE
    body = {"latitude_deg": lat, "longitude_deg": lon, "priority": 2, "summary": SUMMARY}
    call = server.api("POST", "/api/calls", role="isleta-dispatcher", json=body)
    assert call["agency"] == "isleta"
    page.click(f".call-row:has-text('{SUMMARY}')")
    page.locator("#send-best").wait_for()
    aid = page.locator("#alternatives li[data-agency=bcso][data-mutual-aid=pilot_confirm]")
    aid.wait_for()
    text = aid.inner_text()
    assert "mutual aid from Bernalillo County Sheriff's Office (pilot_confirm)" in text
    assert "held until their pilot confirms" in text
    # The other agency's console never lists the call.
    calls = server.api("GET", "/api/calls", role="bcso-dispatcher")
    assert call["id"] not in {c["id"] for c in calls}
    browser.screenshot(page, "dispatcher-mutual-aid")

    # Sent, it waits for BCSO's pilot; Isleta's pilot console says whose pilot it waits for.
    theirs, ours = browser.new_page(), browser.new_page()
    for pilot_page, name, drone in (
        (theirs, "bcso-pilot", "bcso-1"),
        (ours, "isleta-pilot", "isleta-1"),
    ):
        browser.login(pilot_page, name)
        pilot_page.click("[data-console=pilot]")
        # Telemetry shown: the console's feed is subscribed, the held launch will reach it.
        card = f".station-card[data-drone-id='{drone}']:not(:has-text('No telemetry yet'))"
        pilot_page.wait_for_selector(card)
    page.click("#alternatives li[data-agency=bcso] button")
    confirm = theirs.locator("[data-confirm-sortie]")
    confirm.wait_for()
    assert "Mutual aid: bcso-1 is Bernalillo County Sheriff's Office's" in theirs.inner_text(
        "#pending-list"
    )
    ours.wait_for_selector("#pending-list [data-held-for=bcso]")
    assert ours.locator("[data-confirm-sortie]").count() == 0
    browser.screenshot(theirs, "pilot-mutual-aid")
    confirm.click()
    theirs.wait_for_selector("[data-confirm-sortie]", state="detached")
    browser.assert_clean()
