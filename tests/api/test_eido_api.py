"""POST /api/eido on the real server (simulated drones): a call per incident, versions,
refusals with their status, and a moved scene while a drone flies to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from missions.geo import GeoPoint
from tests.api.conftest import WEBHOOK_TOKEN, login
from tests.api.test_api_flight import drone, wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eido"
EIDO = {"Content-Type": "application/emergency.eido+json", "X-DFR-Token": WEBHOOK_TOKEN}


def document(name: str, incident_id: str | None = None) -> dict[str, Any]:
    loaded = json.loads((FIXTURES / f"{name}.json").read_text())
    if incident_id is not None:
        loaded["$id"] = incident_id
    return loaded


def post(client, body: dict[str, Any] | bytes, headers: dict[str, str] = EIDO):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/api/eido", content=content, headers=headers)


def test_an_incident_is_one_call_and_a_later_version_moves_it(client) -> None:
    disp = login(client, "disp")
    incident = "urn:emergency:uid:incidentid:a1:pueblo-ecc.co.us"
    created = post(client, document("point", incident))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["outcome"] == "created"
    call = body["call"]
    assert (call["source"], call["external_id"], call["priority"]) == ("eido", incident, 1)
    assert call["call_type"] == "shooting"

    again = post(client, document("point", incident))
    assert again.status_code == 200
    assert again.json()["outcome"] == "unchanged"
    assert again.json()["call"]["id"] == call["id"]

    moved = post(client, document("point-moved", incident))
    assert moved.status_code == 200, moved.text
    update = moved.json()
    assert update["outcome"] == "updated"
    assert 400 < update["moved_m"] < 500
    assert update["alert"] is None  # no drone on it: the recommendation takes the new place
    stored = client.get(f"/api/calls/{call['id']}", headers=disp).json()
    assert (stored["latitude_deg"], stored["longitude_deg"]) == (38.2572, -104.6052)
    assert stored["source_updated_at"] == "2026-03-14T15:29:10.500000+00:00"

    stale = post(client, document("point", incident))
    assert stale.status_code == 200
    assert stale.json()["outcome"] == "stale"
    assert "older" in stale.json()["detail"]

    audit = client.get("/api/audit", headers=disp).json()
    mine = [e for e in audit if e["subject"] == f"call:{call['id']}"]
    assert [(e["action"], e["outcome"]) for e in mine] == [
        ("call.create", "accepted"),
        ("call.repeat", "accepted"),
        ("call.update", "accepted"),
        ("call.update", "refused"),
    ]


def test_a_circle_keeps_its_uncertainty(client) -> None:
    created = post(client, document("circle", "urn:emergency:uid:incidentid:c1:pueblo-ecc.co.us"))
    assert created.status_code == 201, created.text
    assert created.json()["call"]["location_uncertainty_m"] == 75.0
    assert created.json()["call"]["priority"] == 3


def _with_pos(pos: str) -> dict[str, Any]:
    moved = document("point", "urn:emergency:uid:incidentid:bad:pueblo-ecc.co.us")
    location = moved["locationComponent"][0]
    location["locationByValue"] = location["locationByValue"].replace("38.2544 -104.6091", pos)
    return moved


@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [
        (document("point"), {"Content-Type": EIDO["Content-Type"]}, 401, "X-DFR-Token"),
        (document("point"), {**EIDO, "X-DFR-Token": "wrong"}, 401, "X-DFR-Token"),
        (document("point"), {**EIDO, "Content-Type": "application/json"}, 415, "emergency.eido"),
        (document("civic-only"), EIDO, 422, "civic address only"),
        (document("no-location"), EIDO, 422, "no location"),
        (document("xxe"), EIDO, 422, "DTD or an entity"),
        (_with_pos("200 -104.6091"), EIDO, 422, "latitude 200 is outside"),
        (_with_pos("NaN -104.6091"), EIDO, 422, "latitude must be finite"),
        (b'{"$id": "x", "lastUpdateTimeStamp": NaN}', EIDO, 422, "NaN"),
        ({"$id": "x", "eidoVersion": "1.0"}, EIDO, 422, "not an EIDO"),
        (b"\xff{}", EIDO, 400, "not UTF-8"),
        (b" " * (65 * 1024), EIDO, 413, "larger than"),
    ],
)
def test_refusals_say_why_and_store_nothing(client, body, headers, status, words) -> None:
    disp = login(client, "disp")
    before = client.get("/api/calls", headers=disp).json()
    refused = post(client, body, headers)
    assert refused.status_code == status, refused.text
    detail = refused.json()["detail"]
    text = detail[0]["msg"] if status == 422 else detail
    assert words in text
    assert client.get("/api/calls", headers=disp).json() == before


def test_a_moved_scene_sends_the_drone_flying_there_to_it(client) -> None:
    """The update re-plans the airborne drone to the new scene without landing (mission
    and fence replaced in flight) and tells the pilot; the sortie flies on from there."""
    disp, pilot = login(client, "disp"), login(client, "pilot")
    incident = "urn:emergency:uid:incidentid:f1:pueblo-ecc.co.us"
    call = post(client, document("point", incident)).json()["call"]
    sent = client.post(f"/api/calls/{call['id']}/dispatch", headers=disp)
    assert sent.status_code == 200, sent.text
    drone_id = sent.json()["sortie"]["drone_id"]
    sortie_id = sent.json()["sortie"]["id"]
    wait_for(
        lambda: client.get(f"/api/sorties/{sortie_id}", headers=disp).json(),
        lambda s: s["state"] == "en_route",
        what="en_route",
    )
    token = pilot["Authorization"].split()[1]
    with client.websocket_connect("/api/ws") as ws:
        ws.send_json({"type": "auth", "token": token})
        moved = post(client, document("point-moved", incident))
        message = ws.receive_json()
        while message["type"] != "alert":
            message = ws.receive_json()
    assert moved.status_code == 200, moved.text
    update = moved.json()
    expected = (
        f"call {call['id']}: scene moved {update['moved_m']:.0f} m"
        " — the drone is re-tasked to the new scene"
    )
    assert update["alert"] == expected
    assert message["message"] == expected
    assert (message["kind"], message["drone_id"], message["sortie_id"]) == (
        "scene_moved",
        drone_id,
        sortie_id,
    )
    audit = client.get("/api/audit", headers=disp).json()
    recorded = [e for e in audit if e["action"] == "call.scene_moved"]
    assert recorded[-1]["subject"] == f"sortie:{sortie_id}"
    assert recorded[-1]["details"]["retargeted"] is True
    # It flies on to the new scene (not the old one) and is on scene there.
    new_scene = GeoPoint(38.2572, -104.6052)
    wait_for(
        lambda: client.get(f"/api/sorties/{sortie_id}", headers=disp).json(),
        lambda s: s["state"] == "on_scene",
        what="on scene at the new scene",
    )
    here = drone(client, disp, drone_id)
    assert GeoPoint(here["latitude_deg"], here["longitude_deg"]).distance_m(new_scene) < 40.0
    home = client.post(
        f"/api/drones/{drone_id}/commands", json={"command": "return"}, headers=pilot
    )
    assert home.status_code == 200, home.text
