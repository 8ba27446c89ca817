"""The audit log holds every attempt with its outcome: accepted, or refused with what the
client was told."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dfr.cli import server_app
from tests.api.conftest import login, make_settings, wait_armable, wait_healthy

SCENE = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 1, "summary": "x"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A server of its own: its audit log holds this module's attempts only."""
    settings = make_settings(tmp_path_factory.mktemp("audit"))
    with TestClient(server_app(settings)) as test_client:
        wait_healthy(test_client)
        wait_armable(test_client)
        yield test_client


def audit(client: TestClient, after_id: int = 0) -> list[dict]:
    headers = login(client, "admin")
    return client.get(
        "/api/audit", params={"limit": 5000, "after_id": after_id}, headers=headers
    ).json()


def last_id(client: TestClient) -> int:
    return audit(client)[-1]["id"]


def entries(client: TestClient, after_id: int, action: str) -> list[dict]:
    return [e for e in audit(client, after_id) if e["action"] == action]


def test_a_refused_command_is_audited_as_refused_with_what_the_pilot_was_told(client) -> None:
    pilot = login(client, "pilot")
    start = last_id(client)
    docked = client.post("/api/drones/dfr-3/commands", json={"command": "hold"}, headers=pilot)
    assert docked.status_code == 409
    unknown = client.post("/api/drones/dfr-99/commands", json={"command": "land"}, headers=pilot)
    assert unknown.status_code == 404
    holds = entries(client, start, "command.hold")
    lands = entries(client, start, "command.land")
    assert [(e["actor"], e["subject"], e["outcome"], e["reason"]) for e in holds + lands] == [
        ("pilot", "drone:dfr-3", "refused", docked.json()["detail"]),
        ("pilot", "drone:dfr-99", "refused", unknown.json()["detail"]),
    ]


def test_a_dispatch_to_a_busy_drone_is_audited_as_refused(client) -> None:
    disp = login(client, "disp")
    first = client.post("/api/calls", json=SCENE, headers=disp).json()
    second = client.post("/api/calls", json=SCENE, headers=disp).json()
    start = last_id(client)
    sent = client.post(
        f"/api/calls/{first['id']}/dispatch", json={"station_id": "hq"}, headers=disp
    )
    assert sent.status_code == 200, sent.text
    sortie_id = sent.json()["sortie"]["id"]
    busy = client.post(
        f"/api/calls/{second['id']}/dispatch", json={"station_id": "hq"}, headers=disp
    )
    assert busy.status_code == 409
    dispatches = entries(client, start, "sortie.dispatch")
    assert [(e["subject"], e["outcome"], e["reason"]) for e in dispatches] == [
        (f"sortie:{sortie_id}", "accepted", ""),
        (f"call:{second['id']}", "refused", busy.json()["detail"]),
    ]
    assert dispatches[1]["details"] == {"station_id": "hq"}

    # A command to the drone now flying is audited as what it turned out to be.
    pilot = login(client, "pilot")
    start = last_id(client)
    hold = client.post("/api/drones/dfr-1/commands", json={"command": "hold"}, headers=pilot)
    (entry,) = entries(client, start, "command.hold")
    assert entry["details"]["sortie_id"] == sortie_id
    if hold.status_code == 200:
        assert (entry["outcome"], entry["reason"]) == ("accepted", "")
    else:
        assert (entry["outcome"], entry["reason"]) == ("refused", hold.json()["detail"])
    client.post("/api/drones/dfr-1/commands", json={"command": "return"}, headers=pilot)


def test_a_maintenance_toggle_that_fails_is_audited_as_refused(client) -> None:
    pilot = login(client, "pilot")
    start = last_id(client)
    nowhere = client.post("/api/stations/nowhere/maintenance", json={"on": True}, headers=pilot)
    assert nowhere.status_code == 404
    done = client.post("/api/stations/eastside/maintenance", json={"on": True}, headers=pilot)
    assert done.status_code == 200
    client.post("/api/stations/eastside/maintenance", json={"on": False}, headers=pilot)
    toggles = entries(client, start, "station.maintenance")
    assert [(e["subject"], e["details"], e["outcome"], e["reason"]) for e in toggles] == [
        ("station:nowhere", {"on": True}, "refused", nowhere.json()["detail"]),
        ("station:eastside", {"on": True}, "accepted", ""),
        ("station:eastside", {"on": False}, "accepted", ""),
    ]
