"""Every 4xx path of the API, role enforcement, and that bad input loses nothing."""

from __future__ import annotations

import pytest

from tests.api.conftest import WEBHOOK_TOKEN, login

DOWNTOWN = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 1, "summary": "x"}


def test_health_answers_once_drones_are_connected(client) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["drones"] == {"dfr-1": True, "dfr-2": True, "dfr-3": True}
    # The fixture waited for every drone to be ready for a dispatch, not only connected.
    assert response.json()["ready"] == {"dfr-1": True, "dfr-2": True, "dfr-3": True}


def test_login(client) -> None:
    assert (
        client.post("/api/login", json={"username": "disp", "password": "nope"}).status_code == 401
    )
    bad = client.post("/api/login", json={"username": "disp"})
    assert bad.status_code == 422
    assert "password" in bad.text
    assert client.get("/api/calls").status_code == 401
    garbage = client.get("/api/calls", headers={"Authorization": "Bearer garbage"})
    assert garbage.status_code == 401
    assert garbage.json()["detail"] == "invalid token"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**DOWNTOWN, "latitude_deg": 200}, "latitude_deg"),
        ({**DOWNTOWN, "longitude_deg": "east"}, "longitude_deg"),
        ({**DOWNTOWN, "priority": 9}, "priority"),
        ({**DOWNTOWN, "colour": "red"}, "colour"),
        ({"longitude_deg": -104.6}, "latitude_deg"),
    ],
)
def test_bad_call_is_a_422_naming_the_field_and_nothing_is_stored(client, body, field) -> None:
    headers = login(client, "disp")
    before = client.get("/api/calls", headers=headers).json()
    response = client.post("/api/calls", json=body, headers=headers)
    assert response.status_code == 422
    assert field in response.text
    assert client.get("/api/calls", headers=headers).json() == before


def test_malformed_json_is_a_422(client) -> None:
    headers = {**login(client, "disp"), "Content-Type": "application/json"}
    response = client.post("/api/calls", content=b"{not json", headers=headers)
    assert response.status_code == 422


def test_unknown_things_are_404(client) -> None:
    headers = login(client, "disp")
    assert client.get("/api/calls/99999", headers=headers).status_code == 404
    assert client.post("/api/calls/99999/dispatch", headers=headers).status_code == 404
    assert client.get("/api/sorties/99999", headers=headers).status_code == 404
    call = client.post("/api/calls", json=DOWNTOWN, headers=headers).json()
    nowhere = client.post(
        f"/api/calls/{call['id']}/dispatch", json={"station_id": "nowhere"}, headers=headers
    )
    assert nowhere.status_code == 404
    assert "nowhere" in nowhere.json()["detail"]
    cmd = client.post("/api/drones/dfr-99/commands", json={"command": "hold"}, headers=headers)
    assert cmd.status_code == 404


def test_commands_need_a_flying_drone_and_a_known_command(client) -> None:
    headers = login(client, "pilot")
    docked = client.post("/api/drones/dfr-3/commands", json={"command": "hold"}, headers=headers)
    assert docked.status_code == 409
    assert "no sortie in flight" in docked.json()["detail"]
    unknown = client.post("/api/drones/dfr-3/commands", json={"command": "loop"}, headers=headers)
    assert unknown.status_code == 422
    radius = client.post(
        "/api/drones/dfr-3/commands", json={"command": "orbit", "radius_m": -4}, headers=headers
    )
    assert radius.status_code == 422
    assert "radius_m" in radius.text


def test_roles(client) -> None:
    disp, rtcc, admin = login(client, "disp"), login(client, "rtcc"), login(client, "admin")
    call = client.post("/api/calls", json=DOWNTOWN, headers=disp).json()
    assert client.post("/api/calls", json=DOWNTOWN, headers=rtcc).status_code == 403
    assert client.post(f"/api/calls/{call['id']}/dispatch", headers=rtcc).status_code == 403
    assert client.post(f"/api/calls/{call['id']}/dispatch", headers=admin).status_code == 403
    assert client.get("/api/audit", headers=rtcc).status_code == 200

    share = client.post(f"/api/calls/{call['id']}/share", headers=disp)
    assert share.status_code == 201
    assert share.json()["url"].endswith(f"/officer#token={share.json()['token']}")
    officer = {"Authorization": f"Bearer {share.json()['token']}"}
    assert client.get(f"/api/calls/{call['id']}", headers=officer).status_code == 200
    other = client.post("/api/calls", json=DOWNTOWN, headers=disp).json()
    assert client.get(f"/api/calls/{other['id']}", headers=officer).status_code == 403
    assert [c["id"] for c in client.get("/api/calls", headers=officer).json()] == [call["id"]]
    denied = client.post(f"/api/calls/{call['id']}/dispatch", headers=officer)
    assert denied.status_code == 403
    assert (
        client.post(
            "/api/drones/dfr-1/commands", json={"command": "land"}, headers=officer
        ).status_code
        == 403
    )
    assert client.get("/api/audit", headers=officer).status_code == 403
    assert client.get("/api/me", headers=officer).json()["role"] == "officer"


def test_webhooks(client) -> None:
    body = {"incident_id": "P26-1234", "latitude": 38.26, "longitude": -104.60, "nature": "shots"}
    assert client.post("/api/webhooks/cad", json=body).status_code == 401
    assert (
        client.post("/api/webhooks/cad", json=body, headers={"X-DFR-Token": "wrong"}).status_code
        == 401
    )
    created = client.post("/api/webhooks/cad", json=body, headers={"X-DFR-Token": WEBHOOK_TOKEN})
    assert created.status_code == 201
    assert created.json()["source"] == "cad"
    assert created.json()["external_id"] == "P26-1234"
    alert = {"alert_id": "G-77", "latitude": 38.25, "longitude": -104.61, "rounds": 4}
    shot = client.post("/api/webhooks/gunshot", json=alert, headers={"X-DFR-Token": WEBHOOK_TOKEN})
    assert shot.status_code == 201
    assert shot.json()["priority"] == 1
    assert "4 round(s)" in shot.json()["summary"]
    bad = client.post(
        "/api/webhooks/gunshot",
        json={**alert, "latitude": 91},
        headers={"X-DFR-Token": WEBHOOK_TOKEN},
    )
    assert bad.status_code == 422


def test_recommend_and_airspace(client) -> None:
    headers = login(client, "disp")
    rec = client.get(
        "/api/recommend",
        params={"latitude_deg": 38.2590, "longitude_deg": -104.6050},
        headers=headers,
    )
    assert rec.status_code == 200
    assert rec.json()["candidates"][0]["station_id"] == "hq"
    bad = client.get(
        "/api/recommend", params={"latitude_deg": 200, "longitude_deg": 0}, headers=headers
    )
    assert bad.status_code == 422
    air = client.get("/api/airspace", headers=headers)
    assert air.headers["content-type"] == "application/geo+json"
    kinds = {f["properties"]["kind"] for f in air.json()["features"]}
    assert kinds == {"operational_area", "no_fly", "ceiling", "area"}
    schema = client.get("/openapi.json").json()
    assert "/api/calls/{call_id}/dispatch" in schema["paths"]


def test_maintenance_takes_a_station_out_of_the_ranking(client) -> None:
    pilot, disp = login(client, "pilot"), login(client, "disp")
    where = {"latitude_deg": 38.2680, "longitude_deg": -104.5560}
    assert (
        client.post(
            "/api/stations/eastside/maintenance", json={"on": True}, headers=disp
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/stations/nowhere/maintenance", json={"on": True}, headers=pilot
        ).status_code
        == 404
    )
    off = client.post("/api/stations/eastside/maintenance", json={"on": True}, headers=pilot)
    assert off.status_code == 200
    assert off.json()["dock_state"] == "maintenance"
    rec = client.get("/api/recommend", params=where, headers=disp).json()
    assert {
        "station_id": "eastside",
        "drone_id": "dfr-3",
        "kind": "maintenance",
        "reason": "drone in maintenance",
    } in rec["excluded"]
    client.post("/api/stations/eastside/maintenance", json={"on": False}, headers=pilot)
    rec = client.get("/api/recommend", params=where, headers=disp).json()
    assert rec["candidates"][0]["station_id"] == "eastside"


def test_a_closed_call_is_not_queued_again_and_flown_to_later(client) -> None:
    pilot, disp = login(client, "pilot"), login(client, "disp")
    stations = [s["id"] for s in client.get("/api/stations", headers=pilot).json()]
    call = client.post("/api/calls", json=DOWNTOWN, headers=disp).json()
    assert client.post(f"/api/calls/{call['id']}/close", headers=disp).status_code == 200
    try:
        for station in stations:  # no drone free: a dispatch would queue the call
            maintenance = f"/api/stations/{station}/maintenance"
            assert client.post(maintenance, json={"on": True}, headers=pilot).status_code == 200
        refused = client.post(f"/api/calls/{call['id']}/dispatch", headers=disp)
        assert refused.status_code == 409
        assert refused.json()["detail"] == f"call {call['id']} is closed"
    finally:
        for station in stations:  # a drone back in service serves the queue
            client.post(f"/api/stations/{station}/maintenance", json={"on": False}, headers=pilot)
    assert client.get(f"/api/calls/{call['id']}", headers=disp).json()["status"] == "closed"
    assert client.get(f"/api/calls/{call['id']}/sortie", headers=disp).json() is None
