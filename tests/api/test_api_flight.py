"""A sortie through the API: dispatch, the console WebSocket, pilot commands, the timeline."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from datetime import datetime

import pytest
from starlette.websockets import WebSocketDisconnect

from dfr.audit_signing import SigningKey
from dfr.settings import Settings
from tests.api.conftest import login, make_settings

SCENE = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 1, "summary": "alarm"}


@pytest.fixture(scope="module")
def api_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """This module's server signs an audit checkpoint every 5 entries, so a short run
    has some for the evidence package to carry."""
    return make_settings(tmp_path_factory.mktemp("api-flight"), audit_checkpoint_every=5)


def wait_for(fetch, predicate, timeout_s: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while True:
        value = fetch()
        if predicate(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value}"
        time.sleep(0.2)


def drone(client, headers, drone_id: str) -> dict:
    stations = client.get("/api/stations", headers=headers).json()
    return next(s["drone"] for s in stations if s["drone"]["id"] == drone_id)


def _stream_of(message: dict, drone_id: str) -> dict:
    return next(s for s in message["streams"] if s["drone_id"] == drone_id)


def test_websocket_needs_a_token_in_its_first_message(client) -> None:
    for first in ({"type": "hello"}, {"type": "auth", "token": "forged"}):
        with client.websocket_connect("/api/ws") as ws:
            ws.send_json(first)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
        assert closed.value.code == 4401


def test_websocket_pushes_telemetry_and_new_calls(client) -> None:
    headers = login(client, "disp")
    token = headers["Authorization"].split()[1]
    with client.websocket_connect("/api/ws") as ws:
        ws.send_json({"type": "auth", "token": token})  # as the pages do: not in the URL
        assert ws.receive_json()["type"] == "hello"
        streams = ws.receive_json()  # the stream list comes first, then changes as they happen
        assert streams["type"] == "streams"
        assert {s["drone_id"] for s in streams["streams"]} == {"dfr-1", "dfr-2", "dfr-3"}
        stamps = []
        while len(stamps) < 9:
            message = ws.receive_json()
            if message["type"] == "telemetry":
                stamps.append(datetime.fromisoformat(message["at"]))
                assert {d["id"] for d in message["drones"]} == {"dfr-1", "dfr-2", "dfr-3"}
        # Pushed at 4 Hz: eight intervals average well under the 0.5 s that 2 Hz allows.
        mean_interval_s = (stamps[-1] - stamps[0]).total_seconds() / 8
        assert mean_interval_s <= 0.5
        call = client.post("/api/calls", json=SCENE, headers=headers).json()
        message = ws.receive_json()
        while message["type"] != "call":
            message = ws.receive_json()
        assert message["call"]["id"] == call["id"]


def test_sortie_states_are_served_for_the_consoles(client) -> None:
    states = client.get("/api/sortie-states", headers=login(client, "rtcc")).json()
    assert states["states"][0] == "docked"
    assert set(states["final"]) == {"docked", "landed", "aborted", "fault"}
    assert set(states["final"]) < set(states["states"])
    assert states["before_launch"] == ["awaiting_pilot"]


def test_dispatch_fly_command_and_timeline(client) -> None:
    disp, pilot = login(client, "disp"), login(client, "pilot")
    call = client.post("/api/calls", json=SCENE, headers=disp).json()
    token = disp["Authorization"].split()[1]
    with client.websocket_connect("/api/ws") as ws:
        ws.send_json({"type": "auth", "token": token})
        sent = client.post(f"/api/calls/{call['id']}/dispatch", headers=disp)
        # The consoles learn that the drone's stream now serves the call, unasked.
        message = ws.receive_json()
        while not (message["type"] == "streams" and _stream_of(message, "dfr-1")["call_id"]):
            message = ws.receive_json()
        assert _stream_of(message, "dfr-1")["call_id"] == call["id"]
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["queued"] is False
    assert body["station_id"] == "hq"
    sortie_id = body["sortie"]["id"]

    # The drone is taken: a dispatch that insists on it is refused, the call stays open.
    other = client.post("/api/calls", json=SCENE, headers=disp).json()
    taken = client.post(
        f"/api/calls/{other['id']}/dispatch", json={"station_id": "hq"}, headers=disp
    )
    assert taken.status_code == 409
    assert client.get(f"/api/calls/{other['id']}", headers=disp).json()["status"] == "new"

    def sortie():
        return client.get(f"/api/sorties/{sortie_id}", headers=disp).json()

    wait_for(sortie, lambda s: s["state"] == "en_route", what="en_route")
    held = client.post("/api/drones/dfr-1/commands", json={"command": "hold"}, headers=pilot)
    assert held.status_code == 200, held.text
    wait_for(
        lambda: drone(client, pilot, "dfr-1"), lambda d: d["flight_mode"] == "HOLD", what="HOLD"
    )
    resumed = client.post("/api/drones/dfr-1/commands", json={"command": "resume"}, headers=pilot)
    assert resumed.status_code == 200, resumed.text
    wait_for(
        lambda: drone(client, pilot, "dfr-1"),
        lambda d: d["flight_mode"] == "MISSION",
        what="MISSION",
    )
    wait_for(sortie, lambda s: s["state"] == "on_scene", what="on_scene")

    back = client.post("/api/drones/dfr-1/commands", json={"command": "return"}, headers=pilot)
    assert back.status_code == 200, back.text
    final = wait_for(
        sortie, lambda s: s["state"] in ("docked", "landed"), timeout_s=150, what="back on the dock"
    )
    assert final["launched_by"] == "disp"
    assert final["launched_at"] >= final["created_at"]
    states = [e["state"] for e in final["events"]]
    assert states[:4] == ["reserved", "launching", "en_route", "on_scene"]
    assert "returning" in states
    vehicle_times = [e["vehicle_s"] for e in final["events"] if e["vehicle_s"] is not None]
    assert vehicle_times == sorted(vehicle_times)

    # The track, once a second of wall time from launch to the dock.
    track = client.get(f"/api/sorties/{sortie_id}/track", headers=disp).json()
    assert len(track) >= 5
    seconds = [datetime.fromisoformat(p["at_utc"]).timestamp() for p in track]
    assert (seconds[-1] - seconds[0]) / (len(seconds) - 1) < 1.5  # about one a second
    assert max(p["alt_above_station_m"] for p in track) > 50.0
    # (the pilot's hold may fall between two samples)
    assert {p["flight_mode"] for p in track} >= {"MISSION", "RETURN_TO_LAUNCH"}
    assert (track[0]["target_latitude_deg"], track[0]["target_longitude_deg"]) == (
        SCENE["latitude_deg"],
        SCENE["longitude_deg"],
    )
    assert (
        client.get(f"/api/sorties/{sortie_id}/track", headers=login(client, "rtcc")).status_code
        == 200
    )

    audit = client.get("/api/audit", headers=disp).json()
    actions = {(e["actor"], e["action"]) for e in audit}
    assert {
        ("disp", "sortie.dispatch"),
        ("disp", "sortie.launch"),
        ("pilot", "command.hold"),
        ("pilot", "command.resume"),
        ("pilot", "command.return"),
    } <= actions
    # The drone is free again once back on its charged dock: the waiting call can have it.
    wait_for(lambda: drone(client, disp, "dfr-1"), lambda d: d["docked"], what="charged dock")
    again = client.post(
        f"/api/calls/{other['id']}/dispatch", json={"station_id": "hq"}, headers=disp
    )
    assert again.status_code == 200, again.text


def test_a_flown_sortie_exports_a_signed_evidence_package(client, api_settings, tmp_path) -> None:
    disp, rtcc = login(client, "disp"), login(client, "rtcc")
    sorties = client.get("/api/sorties", headers=disp).json()
    flown = [s for s in sorties if s["state"] == "docked"]
    assert flown, f"no flown sortie in this module's server: {[s['state'] for s in sorties]}"
    sortie_id = flown[0]["id"]
    assert client.get(f"/api/sorties/{sortie_id}/evidence", headers=disp).status_code == 403
    assert client.get("/api/sorties/999999/evidence", headers=rtcc).status_code == 404
    answer = client.get(f"/api/sorties/{sortie_id}/evidence", headers=rtcc)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    package = tmp_path / "evidence.zip"
    package.write_bytes(answer.content)
    with zipfile.ZipFile(package) as z:
        names = set(z.namelist())
        read_back = json.loads(z.read("transfers/mission-read_back.json"))
    assert {"track.csv", "transfers/mission-read_back.json", "audit.jsonl"} <= names
    # The QGroundControl plan holds the very items the vehicle gave back.
    plan = client.get(f"/api/sorties/{sortie_id}/plan", headers=disp)
    assert plan.status_code == 200, plan.text
    assert "dfr-sortie" in plan.headers["content-disposition"]
    items = plan.json()["mission"]["items"]
    assert [i["command"] for i in items] == [i["command"] for i in read_back]
    positioned = [(i["params"][4], i["params"][5]) for i in items if i["frame"] == 3]
    assert positioned == [(i["x"] / 1e7, i["y"] / 1e7) for i in read_back if i["frame"] == 6]
    assert len(positioned) >= 2  # takeoff and target at least
    assert any(n.startswith("recordings/") and n.endswith(".mkv") for n in names)
    # Checked against the server's own key, with nothing but the zip and the key.
    key = SigningKey.load_or_create(api_settings.audit_signing_key_path)
    published = tmp_path / "dfr.pub"
    published.write_text(key.public.pem)
    with zipfile.ZipFile(package) as z:
        checkpoint = json.loads(z.read("manifest.json"))["audit_checkpoint"]
    assert checkpoint["key_id"] == key.public.key_id  # the audit chain's latest, signed
    dfr = [sys.executable, "-m", "dfr.cli", "evidence", "verify", str(package)]
    checked = subprocess.run([*dfr, "--public-key", str(published)], capture_output=True)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    with zipfile.ZipFile(package, "a") as z:
        z.writestr("planted.txt", "not from dfr")
    tampered = subprocess.run([*dfr, "--public-key", str(published)], capture_output=True)
    assert tampered.returncode == 1
    assert b"planted.txt: added" in tampered.stdout
    audit = client.get("/api/audit", headers=login(client, "admin")).json()
    exports = [e for e in audit if e["action"] == "evidence.export"]
    assert [(e["subject"], e["outcome"]) for e in exports] == [
        ("sortie:999999", "refused"),
        (f"sortie:{sortie_id}", "accepted"),
    ]
    assert {e["actor"] for e in exports} == {"rtcc"}
