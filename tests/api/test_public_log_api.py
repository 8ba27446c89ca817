"""Purposes, holds and the public flight log on the real server: simulated drones fly real
sorties, then anyone reads the log (no login) as JSON, CSV and GeoJSON, and nothing
private is in it."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dfr.cli import server_app
from tests.api.conftest import WEBHOOK_TOKEN, login, make_settings, wait_ready
from tests.api.test_api_flight import wait_for
from tests.deployments import edited_pueblo

ADDRESS = "1234 Elm Street"
NATURE = f"Burglary in progress at {ADDRESS}, caller Jane Q. Public"
INCIDENT = "CAD-24-000815"
HQ_SCENE = (38.2590, -104.6050)
EAST_POINT = (38.2560, -104.5600)
USERS = ("disp", "pilot", "rtcc", "admin")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """Pueblo, flights published as soon as they end (delay_h = 0)."""
    folder = tmp_path_factory.mktemp("public-log")
    toml = edited_pueblo(folder, r"^delay_h\s*=.*$", "delay_h = 0")
    with TestClient(server_app(make_settings(folder, deployment=toml))) as test_client:
        wait_ready(test_client)
        yield test_client


def assert_purpose_refused(response) -> None:
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "purpose"]


def test_a_launch_without_a_call_needs_a_purpose_from_the_list(client) -> None:
    pilot = login(client, "pilot")
    calls_before = client.get("/api/calls", headers=pilot).json()
    point = {"station_id": "eastside", "latitude_deg": 38.256, "longitude_deg": -104.56}
    assert_purpose_refused(client.post("/api/launch", json=point, headers=pilot))
    for bad in ("joyride", "", "Training", None):
        body = {**point, "purpose": bad}
        assert_purpose_refused(client.post("/api/launch", json=body, headers=pilot))
    call = client.post(
        "/api/calls", json={"latitude_deg": 38.256, "longitude_deg": -104.56}, headers=pilot
    ).json()
    both = {"station_id": "eastside", "call_id": call["id"], "purpose": "training"}
    assert_purpose_refused(client.post("/api/launch", json=both, headers=pilot))
    nowhere = {**point, "station_id": "atlantis", "purpose": "training"}
    assert client.post("/api/launch", json=nowhere, headers=pilot).status_code == 404
    client.post(f"/api/calls/{call['id']}/close", headers=pilot)
    calls_after = client.get("/api/calls", headers=pilot).json()
    assert [c["id"] for c in calls_after] == [c["id"] for c in calls_before] + [call["id"]]
    purposes = client.get("/api/deployment", headers=pilot).json()["launch_purposes"]
    assert [p["id"] for p in purposes] == ["training", "maintenance_test", "pre_planned_event"]


def test_flights_are_published_with_their_category_and_nothing_private(client) -> None:
    disp, pilot, rtcc, admin = (login(client, name) for name in USERS)
    # A flight without a call: training, from the east side.
    launched = client.post(
        "/api/launch",
        json={
            "station_id": "eastside",
            "latitude_deg": EAST_POINT[0],
            "longitude_deg": EAST_POINT[1],
            "purpose": "training",
        },
        headers=pilot,
    )
    assert launched.status_code == 200, launched.text
    training = launched.json()
    assert (training["call"]["purpose"], training["call"]["source"]) == ("training", "map")
    # A CAD call whose text names a person and an address; an officer gets a share link.
    cad = client.post(
        "/api/webhooks/cad",
        json={
            "incident_id": INCIDENT,
            "latitude": HQ_SCENE[0],
            "longitude": HQ_SCENE[1],
            "priority": 1,
            "nature": NATURE,
            "call_type": "Burglary",
        },
        headers={"X-DFR-Token": WEBHOOK_TOKEN},
    ).json()
    assert cad["call_type"] == "burglary"
    sent = client.post(f"/api/calls/{cad['id']}/dispatch", json={"station_id": "hq"}, headers=disp)
    assert sent.status_code == 200, sent.text
    link = client.post(f"/api/calls/{cad['id']}/share", headers=disp).json()

    sorties = {"training": training["sortie"]["id"], "cad": sent.json()["sortie"]["id"]}
    drones = {"training": training["sortie"]["drone_id"], "cad": sent.json()["sortie"]["drone_id"]}
    for name, sortie_id in sorties.items():
        wait_for(
            lambda sid=sortie_id: client.get(f"/api/sorties/{sid}", headers=disp).json(),
            lambda s: s["state"] == "on_scene",
            what=f"{name} on scene",
        )
        back = client.post(
            f"/api/drones/{drones[name]}/commands", json={"command": "return"}, headers=pilot
        )
        assert back.status_code == 200, back.text
    for name, sortie_id in sorties.items():
        wait_for(
            lambda sid=sortie_id: client.get(f"/api/sorties/{sid}", headers=disp).json(),
            lambda s: s["state"] in ("docked", "landed"),
            timeout_s=150,
            what=f"{name} back",
        )
    # The row says docked as soon as the vehicle is down; its recording is saved and
    # audited before the drone is released, which is audited last.
    audit = wait_for(
        lambda: client.get("/api/audit", params={"limit": 5000}, headers=admin).json(),
        lambda entries: (
            {f"sortie:{s}" for s in sorties.values()}
            <= {e["subject"] for e in entries if e["action"] == "sortie.release"}
        ),
        what="both drones released",
    )

    # The purpose is in the audit with the call the launch made.
    created = next(e for e in audit if e["subject"] == f"call:{training['call']['id']}")
    assert (created["action"], created["actor"], created["details"]["purpose"]) == (
        "call.create",
        "pilot",
        "training",
    )
    recorded = {e["subject"] for e in audit if e["action"] == "recording.saved"}

    # Anyone, no login.
    response = client.get("/api/public/flights.json")
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    log = response.json()
    by_id = {f["flight_id"]: f for f in log["flights"]}
    assert set(sorties.values()) <= set(by_id)
    plan, burglary = by_id[sorties["training"]], by_id[sorties["cad"]]
    assert (plan["category"], plan["call_for_service"], plan["priority"]) == (
        "Training",
        False,
        None,
    )
    assert plan["call_to_scene_s"] is None
    assert (burglary["category"], burglary["priority"], burglary["station_id"]) == (
        "Property crime",
        1,
        "hq",
    )
    assert burglary["call_to_scene_s"] > 0
    for flight, sortie_id in ((plan, sorties["training"]), (burglary, sorties["cad"])):
        assert flight["video_recorded"] is (f"sortie:{sortie_id}" in recorded)
        assert flight["max_height_above_ground_m"] >= 50
        assert flight["distance_flown_m"] > 500
        assert 2 <= len(flight["track"]) <= 40
        assert flight["duration_s"] > 0
        assert flight["outcome"] == "completed"
    assert log["held_back"] == 0
    assert sum(m["flights"] for m in log["months"]) == len(log["flights"])

    # Nothing private, in any format.
    outputs = {
        "json": response.text,
        "csv": client.get("/api/public/flights.csv").text,
        "geojson": client.get("/api/public/flights.geojson").text,
    }
    private = [NATURE, ADDRESS, "Jane", INCIDENT, "burglary in", link["id"], link["token"]]
    private += [f"{c:.4f}" for c in HQ_SCENE + EAST_POINT]
    private += [f'"{name}"' for name in USERS] + [f",{name}," for name in USERS]
    for name, text in outputs.items():
        for secret in private:
            assert secret.lower() not in text.lower(), f"{name} leaks {secret!r}"

    # Held back by an admin: gone from every format, and counted.
    hold = {"reason": "victim's home: case 24-0815"}
    sortie_cad = sorties["cad"]
    refused = client.post(f"/api/sorties/{sortie_cad}/publication-hold", json=hold, headers=rtcc)
    assert refused.status_code == 403
    placed = client.post(f"/api/sorties/{sortie_cad}/publication-hold", json=hold, headers=admin)
    assert placed.status_code == 201, placed.text
    assert placed.json()["active"] is True
    again = client.post(f"/api/sorties/{sortie_cad}/publication-hold", json=hold, headers=admin)
    assert again.status_code == 409
    log = client.get("/api/public/flights.json").json()
    assert sortie_cad not in {f["flight_id"] for f in log["flights"]}
    assert log["held_back"] == 1
    rows = list(csv.DictReader(io.StringIO(client.get("/api/public/flights.csv").text)))
    assert str(sortie_cad) not in {r["flight_id"] for r in rows}
    geo = client.get("/api/public/flights.geojson")
    assert geo.headers["content-type"].startswith("application/geo+json")
    assert sortie_cad not in {f["id"] for f in geo.json()["features"]}
    for text in (json.dumps(log), geo.text):
        assert "24-0815" not in text

    # An evidence hold, placed by the RTCC, shows as a yes; admins only may not lift it twice.
    sortie_plan = sorties["training"]
    evidence = {"reason": "training footage kept for review"}
    assert (
        client.post(f"/api/sorties/{sortie_plan}/evidence-hold", json=evidence, headers=disp)
    ).status_code == 403
    assert (
        client.post(f"/api/sorties/{sortie_plan}/evidence-hold", json=evidence, headers=rtcc)
    ).status_code == 201
    public = {f["flight_id"]: f for f in client.get("/api/public/flights.json").json()["flights"]}
    assert public[sortie_plan]["held_as_evidence"] is True
    holds = client.get(f"/api/sorties/{sortie_plan}/holds", headers=disp).json()
    assert (holds["held_as_evidence"], holds["held_from_public_log"]) == (True, False)
    assert holds["holds"][0]["placed_by"] == "rtcc"

    # Released: back in the log; all of it in the audit with who and why.
    release = {"reason": "case closed"}
    lifted = client.post(
        f"/api/sorties/{sortie_cad}/publication-hold/lift", json=release, headers=admin
    )
    assert lifted.status_code == 200, lifted.text
    log = client.get("/api/public/flights.json").json()
    assert sortie_cad in {f["flight_id"] for f in log["flights"]}
    assert log["held_back"] == 0
    audit = client.get("/api/audit", params={"limit": 5000}, headers=admin).json()
    trail = [
        (e["actor"], e["action"], e["outcome"], e["details"].get("reason"))
        for e in audit
        if e["subject"] in (f"sortie:{sortie_cad}", f"sortie:{sortie_plan}")
        and "hold" in e["action"]
    ]
    assert trail == [
        ("admin", "publication_hold.place", "accepted", hold["reason"]),
        ("admin", "publication_hold.place", "refused", hold["reason"]),
        ("rtcc", "evidence_hold.place", "accepted", evidence["reason"]),
        ("admin", "publication_hold.lift", "accepted", "case closed"),
    ]


def test_hold_requests_are_checked(client) -> None:
    admin = login(client, "admin")
    assert (
        client.post(
            "/api/sorties/1/publication-hold", json={"reason": "x"}, headers=admin
        ).status_code
        == 422
    )  # a reason of a few words at least
    missing = client.post("/api/sorties/99999/evidence-hold", json={"reason": "why"}, headers=admin)
    assert missing.status_code == 404
    assert client.post("/api/sorties/1/evidence-hold", json={"reason": "why"}).status_code == 401


def test_the_transparency_page_needs_no_login_and_sends_the_pages_headers(client) -> None:
    page = client.get("/transparency")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # scripts come from files only
    assert '<script type="module" src="/static/transparency.js">' in page.text
