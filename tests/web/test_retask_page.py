"""Re-tasking on the dispatcher page: a drone on scene at a less urgent call is offered
for an urgent one as "in flight", and one click sends it there without landing."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.web.conftest import Browser, LiveServer, running_server
from tests.web.test_transparency import wait_until

pytestmark = pytest.mark.browser

NOISE = (38.2590, -104.6050)
SHOTS = (38.2620, -104.6010)  # ~500 m from the noise complaint
SUMMARY = "Shots fired behind the library"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("retask") / "state") as live:
        yield live


def call_at(server: LiveServer, where: tuple[float, float], priority: int, summary: str) -> dict:
    body = {"latitude_deg": where[0], "longitude_deg": where[1], "priority": priority}
    return server.api("POST", "/api/calls", json={**body, "summary": summary})


def test_the_dispatcher_re_tasks_a_drone_in_flight(browser: Browser, server: LiveServer) -> None:
    noise = call_at(server, NOISE, 3, "Loud party")
    sent = server.api("POST", f"/api/calls/{noise['id']}/dispatch")
    sortie_id, drone_id = sent["sortie"]["id"], sent["sortie"]["drone_id"]
    path = f"/api/sorties/{sortie_id}"
    wait_until(
        lambda: server.api("GET", path), lambda s: s["state"] == "on_scene", "on scene", 120.0
    )

    page = browser.new_page()
    browser.login(page, "dispatcher")
    page.click("[data-console=dispatcher]")
    shots = call_at(server, SHOTS, 1, SUMMARY)
    page.click(f".call-row:has-text('{SUMMARY}')")
    send = page.locator("#send-best[data-airborne=true]")
    send.wait_for()
    label = send.inner_text().replace("\n", " ")
    assert re.fullmatch(rf"Re-task {drone_id} \(in flight\) — ETA \d+ s", label), label
    line = page.inner_text("#recommendation")
    assert f"now on call {noise['id']}" in line
    assert "re-tasked without landing" in line
    send.click()

    # The same flight now serves the urgent call; the one it left is open again.
    sortie = wait_until(
        lambda: server.api("GET", path),
        lambda s: s["call_id"] == shots["id"] and s["state"] == "on_scene",
        "on scene at the urgent call",
        120.0,
    )
    lon, lat, _ = sortie["route"]["coordinates"][-1]
    assert abs(lat - SHOTS[0]) < 0.001
    assert abs(lon - SHOTS[1]) < 0.001
    page.wait_for_selector(f".call-row:has-text('{SUMMARY}')")
    assert server.api("GET", f"/api/calls/{noise['id']}")["status"] == "new"
    browser.screenshot(page, "dispatcher-retask")
    server.api("POST", f"/api/drones/{drone_id}/commands", role="pilot", json={"command": "return"})
    browser.assert_clean()
