"""Re-tasking through the API on the simulated Pueblo fleet: a drone on scene at a less
urgent call, or returning, is ranked for a new call from where it flies; dispatching it
replaces its mission and fence in flight, the call it left is told, and it flies on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dfr.cli import server_app
from missions.geo import GeoPoint
from tests.api.conftest import login, make_settings, wait_ready
from tests.api.test_api_flight import drone, wait_for

NOISE = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 3, "summary": "noise"}
SHOTS = GeoPoint(38.2620, -104.6010)  # ~500 m from the noise complaint
ALARM = GeoPoint(38.2560, -104.6000)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("retask"))
    with TestClient(server_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def new_call(client, headers, at: GeoPoint, priority: int, summary: str) -> dict:
    body = {
        "latitude_deg": at.latitude_deg,
        "longitude_deg": at.longitude_deg,
        "priority": priority,
        "summary": summary,
    }
    made = client.post("/api/calls", json=body, headers=headers)
    assert made.status_code == 201, made.text
    return made.json()


def sortie_state(client, headers, sortie_id: int, *states: str) -> dict:
    return wait_for(
        lambda: client.get(f"/api/sorties/{sortie_id}", headers=headers).json(),
        lambda s: s["state"] in states,
        what=" or ".join(states),
        timeout_s=120.0,
    )


def near(client, headers, drone_id: str, point: GeoPoint) -> float:
    here = drone(client, headers, drone_id)
    return GeoPoint(here["latitude_deg"], here["longitude_deg"]).distance_m(point)


def test_an_urgent_call_takes_the_drone_on_scene_at_a_lesser_one(client) -> None:
    disp, pilot = login(client, "disp"), login(client, "pilot")
    noise = client.post("/api/calls", json=NOISE, headers=disp).json()
    sent = client.post(f"/api/calls/{noise['id']}/dispatch", headers=disp).json()
    sortie_id, drone_id = sent["sortie"]["id"], sent["sortie"]["drone_id"]
    sortie_state(client, disp, sortie_id, "on_scene")

    shots = new_call(client, disp, SHOTS, 1, "shots fired")
    rec = client.get(f"/api/calls/{shots['id']}/recommendation", headers=disp).json()
    best = rec["candidates"][0]
    assert best["drone_id"] == drone_id
    assert best["airborne"] is True
    assert (best["retask_sortie_id"], best["retask_from_call_id"]) == (sortie_id, noise["id"])
    # A call less urgent than the one it is on does not take it.
    minor = new_call(client, disp, SHOTS, 3, "parking")
    minor_rec = client.get(f"/api/calls/{minor['id']}/recommendation", headers=disp).json()
    assert drone_id not in [c["drone_id"] for c in minor_rec["candidates"]]

    token = pilot["Authorization"].split()[1]
    with client.websocket_connect("/api/ws") as ws:
        ws.send_json({"type": "auth", "token": token})
        moved = client.post(f"/api/calls/{shots['id']}/dispatch", headers=disp)
        message = ws.receive_json()
        while message["type"] != "alert" or message.get("kind") != "retasked":
            message = ws.receive_json()
    assert moved.status_code == 200, moved.text
    result = moved.json()
    assert result["sortie"]["id"] == sortie_id  # the same flight, now for the urgent call
    assert result["sortie"]["call_id"] == shots["id"]
    assert result["retasked_from_call_id"] == noise["id"]
    assert message["drone_id"] == drone_id
    assert message["from_call_id"] == noise["id"]
    assert "open again" in message["message"]
    # The call it left still needs a drone: open again for the dispatcher.
    assert client.get(f"/api/calls/{noise['id']}", headers=disp).json()["status"] == "new"
    assert client.get(f"/api/calls/{shots['id']}", headers=disp).json()["status"] == "dispatched"

    sortie_state(client, disp, sortie_id, "en_route")
    sortie_state(client, disp, sortie_id, "on_scene")
    assert near(client, disp, drone_id, SHOTS) < 40.0
    audit = client.get("/api/audit", headers=disp).json()
    retask = [e for e in audit if e["action"] == "sortie.retask"][-1]
    assert retask["details"]["from_call_id"] == noise["id"]
    assert retask["details"]["to_call_id"] == shots["id"]

    # Sent home, it is re-tasked again on the way: the call it served stays served.
    home = client.post(
        f"/api/drones/{drone_id}/commands", json={"command": "return"}, headers=pilot
    )
    assert home.status_code == 200, home.text
    sortie_state(client, disp, sortie_id, "returning")
    alarm = new_call(client, disp, ALARM, 2, "alarm")
    again = client.post(f"/api/calls/{alarm['id']}/dispatch", headers=disp)
    assert again.status_code == 200, again.text
    assert again.json()["sortie"]["id"] == sortie_id
    assert client.get(f"/api/calls/{shots['id']}", headers=disp).json()["status"] == "dispatched"
    sortie_state(client, disp, sortie_id, "on_scene")
    assert near(client, disp, drone_id, ALARM) < 40.0
    client.post(f"/api/drones/{drone_id}/commands", json={"command": "return"}, headers=pilot)
    ended = sortie_state(client, disp, sortie_id, "docked", "landed")
    assert ended["state"] == "docked"
