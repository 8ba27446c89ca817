"""Launch policies through the API, on a server with simulated drones: a gunshot webhook
that matches takes a drone off with no click and the audit names the policy; one with
low confidence waits; a CAD call held for the pilot is confirmed on the confirm route;
beyond max_concurrent a matching alert is left for a dispatcher, saying why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dfr.cli import server_app
from dfr.settings import Settings
from tests.api.conftest import WEBHOOK_TOKEN, login, make_settings, wait_ready
from tests.api.test_api_flight import drone, wait_for
from tests.deployments import edited_pueblo

EAST_SIDE = {"latitude": 38.2700, "longitude": -104.5600}  # East Side patrol district
WEBHOOK = {"X-DFR-Token": WEBHOOK_TOKEN}


@pytest.fixture(scope="module")
def api_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Pueblo with its night-only gunshot policy made to apply all day."""
    folder = tmp_path_factory.mktemp("auto-launch")
    toml = edited_pueblo(folder, r'^hours = "22:00-06:00"$', 'hours = "00:00-24:00"')
    return make_settings(folder, deployment=toml)


@pytest.fixture(scope="module")
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(server_app(api_settings)) as test_client:
        wait_ready(test_client, timeout_s=180.0)
        yield test_client


def _gunshot(client: TestClient, alert_id: str, confidence: float, rounds: int) -> dict:
    body = {"alert_id": alert_id, **EAST_SIDE, "confidence": confidence, "rounds": rounds}
    response = client.post("/api/webhooks/gunshot", json=body, headers=WEBHOOK)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_the_deployment_lists_its_policies(client: TestClient) -> None:
    view = client.get("/api/deployment", headers=login(client, "disp")).json()
    assert view["auto_launch"]["max_concurrent"] == 2
    assert [p["name"] for p in view["auto_launch"]["policies"]] == [
        "gunshot-night",
        "cad-p1-violent",
        "officer-to-me",
    ]
    assert view["auto_launch"]["policies"][1]["confirm_s"] == 20.0


def test_policies_launch_hold_and_leave_calls_as_they_say(client: TestClient) -> None:
    disp, pilot, rtcc = login(client, "disp"), login(client, "pilot"), login(client, "rtcc")
    start = client.get("/api/audit", params={"limit": 1000}, headers=rtcc).json()[-1]["id"]

    shot = _gunshot(client, "SS-100", 0.93, 3)
    assert (shot["status"], shot["policy"], shot["policy_outcome"]) == (
        "dispatched",
        "gunshot-night",
        "launched",
    )
    assert (shot["confidence"], shot["rounds"]) == (0.93, 3)
    sortie = client.get(f"/api/calls/{shot['id']}/sortie", headers=disp).json()
    assert (sortie["policy"], sortie["launched_by"], sortie["station_id"]) == (
        "gunshot-night",
        "policy:gunshot-night",
        "eastside",
    )
    # Nobody clicked anything: the drone takes off.
    wait_for(lambda: drone(client, disp, "dfr-3"), lambda d: d["in_air"], what="dfr-3 airborne")
    # The same alert again: the stored call, nothing launched twice.
    again = client.post(
        "/api/webhooks/gunshot",
        json={"alert_id": "SS-100", **EAST_SIDE, "confidence": 0.93, "rounds": 3},
        headers=WEBHOOK,
    )
    assert (again.status_code, again.json()["id"]) == (200, shot["id"])

    doubtful = _gunshot(client, "SS-101", 0.42, 3)
    assert (doubtful["status"], doubtful["policy_outcome"]) == ("new", "not_matched")
    assert "confidence 42% is below 80%" in doubtful["policy_reason"]
    assert client.get(f"/api/calls/{doubtful['id']}/sortie", headers=disp).json() is None

    cad = client.post(
        "/api/webhooks/cad",
        json={
            "incident_id": "P26-9001",
            "latitude": 38.2600,
            "longitude": -104.6050,
            "priority": 1,
            "nature": "armed robbery",
            "call_type": "Robbery",
        },
        headers=WEBHOOK,
    ).json()
    assert (cad["policy"], cad["policy_outcome"]) == ("cad-p1-violent", "awaiting_pilot")
    held = client.get(f"/api/calls/{cad['id']}/sortie", headers=disp).json()
    assert held["state"] == "awaiting_pilot"
    assert held["confirm_expires_at"] is not None
    confirmed = client.post(f"/api/sorties/{held['id']}/confirm", headers=pilot)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["launched_by"] == "pilot"

    # Two policy launches fly: a third matching alert is left for a dispatcher.
    third = _gunshot(client, "SS-102", 0.99, 6)
    assert (third["status"], third["policy_outcome"]) == ("new", "left")
    assert "max_concurrent 2" in third["policy_reason"]

    audit = client.get("/api/audit", params={"after_id": start, "limit": 1000}, headers=rtcc).json()
    acts = {(e["actor"], e["action"], e["outcome"]) for e in audit}
    assert ("policy:gunshot-night", "sortie.dispatch", "accepted") in acts
    assert ("policy:gunshot-night", "sortie.launch", "accepted") in acts
    assert ("policy:cad-p1-violent", "sortie.dispatch", "accepted") in acts
    assert ("pilot", "sortie.launch", "accepted") in acts
    left = [e for e in audit if e["action"] == "call.policy" and e["outcome"] == "refused"]
    assert [e["subject"] for e in left] == [f"call:{third['id']}"]

    for drone_id in {sortie["drone_id"], held["drone_id"]}:
        answer = client.post(
            f"/api/drones/{drone_id}/commands", json={"command": "abort"}, headers=pilot
        )
        assert answer.status_code == 200, answer.text


def test_abort_declines_a_launch_held_for_the_pilot(client: TestClient) -> None:
    disp, pilot = login(client, "disp"), login(client, "pilot")
    wait_ready(client, timeout_s=180.0)
    cad = client.post(
        "/api/webhooks/cad",
        json={
            "incident_id": "P26-9002",
            "latitude": 38.2600,
            "longitude": -104.6050,
            "priority": 1,
            "call_type": "shots_fired",
        },
        headers=WEBHOOK,
    ).json()
    assert cad["policy_outcome"] == "awaiting_pilot", cad["policy_reason"]
    held = client.get(f"/api/calls/{cad['id']}/sortie", headers=disp).json()
    assert held["state"] == "awaiting_pilot"
    answer = client.post(
        f"/api/drones/{held['drone_id']}/commands", json={"command": "abort"}, headers=pilot
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["sortie_state"] == "aborted"
    call = client.get(f"/api/calls/{cad['id']}", headers=disp).json()
    assert (call["status"], call["policy_outcome"]) == ("new", "declined")
    assert "declined by pilot" in call["policy_reason"]
    assert client.post(f"/api/sorties/{held['id']}/confirm", headers=pilot).status_code == 409, (
        "a declined launch cannot be confirmed"
    )
