"""Officer accounts and "drone to me" through the API, on a server with simulated drones:
an officer sees only the call of their own request and may use nothing else (403s); a
request without a usable fix is refused clearly; one open request at a time; the request
meets Pueblo's officer policy (held for the pilot), flies, and on scene the drone follows
the officer within the bounds (rate, minimum move, no-fly zone, distance)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dfr.auth import Role, write_users_file
from dfr.cli import server_app
from dfr.settings import Settings
from tests.api.conftest import PASSWORDS, ROLES, login, make_settings, wait_ready
from tests.api.test_api_flight import wait_for
from tests.deployments import edited_pueblo

OFFICERS = {
    "ofc-reyes": "reyes-pw",
    "ofc-kim": "kim-pw",
    "ofc-lee": "lee-pw",
    "ofc-diaz": "diaz-pw",
}
SCENE = {"latitude_deg": 38.2500, "longitude_deg": -104.6065}  # 550 m north of a helipad
HELIPAD = {"latitude_deg": 38.2455, "longitude_deg": -104.6065}  # St. Mary-Corwin: no-fly
FOLLOW_INTERVAL_S = 2


@pytest.fixture(scope="module")
def api_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("officer")
    toml = edited_pueblo(
        folder, r"^follow_interval_s = 5 .*$", f"follow_interval_s = {FOLLOW_INTERVAL_S}"
    )
    # An officer asks again at most every 10 minutes here (longer than the test's flight).
    toml.write_text(toml.read_text().replace("min_interval_s = 30 ", "min_interval_s = 600 "))
    settings = make_settings(folder, deployment=toml)
    users = {n: (ROLES[n], pw) for n, pw in PASSWORDS.items()}
    users |= {n: (Role.OFFICER, pw) for n, pw in OFFICERS.items()}
    write_users_file(Path(str(settings.users_file)), users)
    return settings


@pytest.fixture(scope="module")
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(server_app(api_settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def officer(client: TestClient, name: str = "ofc-reyes") -> dict[str, str]:
    response = client.post("/api/login", json={"username": name, "password": OFFICERS[name]})
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "officer"
    return {"Authorization": f"Bearer {response.json()['token']}"}


def fix(point: dict, accuracy_m: float = 8.0, **extra: object) -> dict:
    return {**point, "accuracy_m": accuracy_m, **extra}


def moved(point: dict, north_m: float) -> dict:
    return {**point, "latitude_deg": point["latitude_deg"] + north_m / 111_320.0}


def test_an_officer_sees_nothing_before_asking_and_may_use_nothing_else(client) -> None:
    ofc, disp = officer(client), login(client, "disp")
    other = client.post("/api/calls", json={**SCENE, "priority": 3}, headers=disp).json()
    assert client.get("/api/me", headers=ofc).json()["role"] == "officer"
    assert client.get("/api/calls", headers=ofc).json() == []
    assert client.get("/api/stations", headers=ofc).json() == []
    assert client.get("/api/video/streams", headers=ofc).json() == []
    forbidden = [
        ("POST", "/api/calls", {**SCENE}),
        ("GET", f"/api/calls/{other['id']}", None),
        ("GET", f"/api/calls/{other['id']}/recommendation", None),
        ("POST", f"/api/calls/{other['id']}/dispatch", {}),
        ("POST", f"/api/calls/{other['id']}/close", None),
        ("POST", f"/api/calls/{other['id']}/share", None),
        ("GET", f"/api/calls/{other['id']}/share-links", None),
        ("POST", "/api/drones/dfr-1/commands", {"command": "return"}),
        ("POST", "/api/launch", {"station_id": "hq", "purpose": "training"}),
        ("POST", "/api/stations/hq/maintenance", {"on": True}),
        ("GET", "/api/sorties", None),
        ("GET", "/api/audit", None),
        ("GET", "/api/video/views", None),
        ("GET", "/api/recommend?latitude_deg=38.25&longitude_deg=-104.6", None),
        ("GET", "/api/drones/dfr-1/eta-calibration", None),
    ]
    for method, path, body in forbidden:
        response = client.request(method, path, json=body, headers=ofc)
        assert response.status_code == 403, (method, path, response.text)
    whep = client.post(
        "/whep/dfr-1", content=b"v=0\r\n", headers={**ofc, "Content-Type": "application/sdp"}
    )
    assert whep.status_code == 403
    # Nobody but an officer account asks for a drone this way: not a dispatcher, not a link.
    link = client.post(f"/api/calls/{other['id']}/share", headers=disp).json()["token"]
    for headers in (disp, {"Authorization": f"Bearer {link}"}):
        refused = client.post("/api/officer/requests", json=fix(SCENE), headers=headers)
        assert refused.status_code == 403
    assert "share link cannot ask" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SCENE}, "accuracy_m"),  # no fix: the phone gave no accuracy
        ({"accuracy_m": 5.0}, "latitude_deg"),  # no position at all
        (fix({**SCENE, "latitude_deg": 200.0}), "latitude_deg"),
        (fix(SCENE, accuracy_m=0.0), "accuracy_m"),
        (fix(SCENE, priority=9), "priority"),
        (fix(SCENE, note="x" * 201), "note"),
    ],
)
def test_a_request_without_a_usable_fix_is_refused_naming_the_field(
    client, body: dict, field: str
) -> None:
    response = client.post("/api/officer/requests", json=body, headers=officer(client))
    assert response.status_code == 422
    assert field in [e["loc"][-1] for e in response.json()["detail"]]


def test_nan_and_a_poor_or_distant_fix_are_refused(client) -> None:
    ofc = officer(client)
    nan = client.post(
        "/api/officer/requests",
        content=b'{"latitude_deg": NaN, "longitude_deg": -104.6, "accuracy_m": 5}',
        headers={**ofc, "Content-Type": "application/json"},
    )
    assert nan.status_code == 422
    poor = client.post("/api/officer/requests", json=fix(SCENE, accuracy_m=250.0), headers=ofc)
    assert poor.status_code == 422
    assert "accuracy 250 m is worse than 100 m" in poor.json()["detail"][0]["msg"]
    away = {"latitude_deg": 39.5, "longitude_deg": -104.6}
    outside = client.post("/api/officer/requests", json=fix(away), headers=ofc)
    assert outside.status_code == 422
    assert "outside the operational area" in outside.json()["detail"][0]["msg"]
    assert client.get("/api/calls", headers=ofc).json() == []  # nothing stored


def test_drone_to_me_flies_and_follows_the_officer_within_bounds(client) -> None:
    ofc, pilot, disp = officer(client), login(client, "pilot"), login(client, "disp")
    asked = client.post("/api/officer/requests", json=fix(SCENE, priority=1), headers=ofc)
    assert asked.status_code == 201, asked.text
    call = asked.json()
    assert (call["source"], call["requester"], call["priority"]) == ("officer", "ofc-reyes", 1)
    assert (call["policy"], call["policy_outcome"]) == ("officer-to-me", "awaiting_pilot")
    assert call["location_uncertainty_m"] == 8.0

    # One open request at a time: a flood gets the open call back, and stores nothing.
    for _ in range(5):
        again = client.post("/api/officer/requests", json=fix(SCENE), headers=ofc)
        assert again.status_code == 409
        assert f"call {call['id']}" in again.json()["detail"]
    assert [c["id"] for c in client.get("/api/calls", headers=ofc).json()] == [call["id"]]
    assert client.get("/api/officer/requests/open", headers=ofc).json()["id"] == call["id"]
    # Another officer sees nothing of it, and may not move it.
    kim = officer(client, "ofc-kim")
    assert client.get(f"/api/calls/{call['id']}", headers=kim).status_code == 403
    position = f"/api/officer/requests/{call['id']}/position"
    assert client.post(position, json=fix(SCENE), headers=kim).status_code == 403

    waiting = client.post(position, json=fix(SCENE, follow=True), headers=ofc).json()
    assert waiting["outcome"] == "waiting"

    sortie = client.get(f"/api/calls/{call['id']}/sortie", headers=ofc).json()
    confirmed = client.post(f"/api/sorties/{sortie['id']}/confirm", headers=pilot)
    assert confirmed.status_code == 200, confirmed.text
    wait_for(
        lambda: client.get(f"/api/calls/{call['id']}/sortie", headers=ofc).json(),
        lambda s: s["state"] == "on_scene",
        timeout_s=180.0,
        what="the drone on scene",
    )
    # The officer sees their call's drone and its video, nothing else.
    assert [s["id"] for s in client.get("/api/stations", headers=ofc).json()] == [
        sortie["station_id"]
    ]
    streams = client.get("/api/video/streams", headers=ofc).json()
    assert {s["drone_id"] for s in streams} <= {sortie["drone_id"]}

    step = moved(SCENE, 30.0)
    first = client.post(position, json=fix(step, follow=True), headers=ofc).json()
    assert first["outcome"] == "repositioned", first
    assert math.isclose(first["target_latitude_deg"], step["latitude_deg"])
    soon = client.post(position, json=fix(moved(SCENE, 60.0), follow=True), headers=ofc).json()
    assert soon["outcome"] == "too_soon"
    time.sleep(FOLLOW_INTERVAL_S + 0.2)
    little = client.post(position, json=fix(moved(step, 4.0), follow=True), headers=ofc).json()
    assert little["outcome"] == "moved_too_little"
    nofly = client.post(position, json=fix(HELIPAD, follow=True), headers=ofc).json()
    assert nofly["outcome"] == "refused"
    assert "no-fly zone 'St. Mary-Corwin Medical Center helipad'" in nofly["reason"]
    assert math.isclose(nofly["target_latitude_deg"], step["latitude_deg"])  # stays
    far = client.post(position, json=fix(moved(SCENE, 1600.0), follow=True), headers=ofc).json()
    assert far["outcome"] == "refused"
    assert "more than 1500 m" in far["reason"]
    off = client.post(position, json=fix(moved(SCENE, 90.0)), headers=ofc).json()
    assert (off["follow"], off["outcome"]) == (False, "off")

    # The drone flew to the officer's first new position.
    def drone_now() -> dict:
        stations = client.get("/api/stations", headers=disp).json()
        return next(s["drone"] for s in stations if s["id"] == sortie["station_id"])

    wait_for(
        drone_now,
        lambda d: abs(d["latitude_deg"] - step["latitude_deg"]) * 111_320.0 < 5.0,
        timeout_s=60.0,
        what="the drone over the officer's new position",
    )
    audit = client.get("/api/audit?limit=1000", headers=login(client, "admin")).json()
    follows = [e for e in audit if e["action"] == "follow.reposition"]
    assert [(e["actor"], e["outcome"]) for e in follows] == [
        ("ofc-reyes", "accepted"),
        ("ofc-reyes", "refused"),
        ("ofc-reyes", "refused"),
    ]
    assert follows[0]["details"]["via"] == "follow-me"

    # Back home: the request is no longer open; asking again at once is too soon.
    client.post(
        f"/api/drones/{sortie['drone_id']}/commands", json={"command": "return"}, headers=pilot
    )
    wait_for(
        lambda: client.get(f"/api/calls/{call['id']}/sortie", headers=ofc).json(),
        lambda s: s["state"] in ("docked", "landed"),
        timeout_s=180.0,
        what="the drone back",
    )
    ended = client.post(position, json=fix(step, follow=True), headers=ofc).json()
    assert (ended["follow"], ended["outcome"]) == (False, "ended")
    soon_again = client.post("/api/officer/requests", json=fix(SCENE), headers=ofc)
    assert soon_again.status_code == 429
    assert int(soon_again.headers["Retry-After"]) >= 1


def test_an_officer_cancels_a_request_no_longer_needed(client) -> None:
    """Held for the pilot, the launch is withdrawn; in the air, the drone flies home; the
    call is closed either way. Only the officer who asked may, and only once."""
    pilot, lee, diaz = (
        login(client, "pilot"),
        officer(client, "ofc-lee"),
        officer(client, "ofc-diaz"),
    )
    held = client.post("/api/officer/requests", json=fix(moved(SCENE, -200.0)), headers=lee).json()
    cancel = f"/api/officer/requests/{held['id']}/cancel"
    assert client.post(cancel, headers=diaz).status_code == 403  # not diaz's request
    assert client.post(cancel, headers=pilot).status_code == 403  # officers only
    sortie = client.get(f"/api/calls/{held['id']}/sortie", headers=lee).json()
    assert sortie["state"] == "awaiting_pilot"
    done = client.post(cancel, headers=lee)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "closed"
    assert client.get(f"/api/sorties/{sortie['id']}", headers=pilot).json()["state"] == "aborted"
    assert client.post(cancel, headers=lee).status_code == 409  # closed already
    assert client.get("/api/officer/requests/open", headers=lee).json() is None

    flying = client.post("/api/officer/requests", json=fix(moved(SCENE, 200.0)), headers=diaz)
    call = flying.json()
    sortie = client.get(f"/api/calls/{call['id']}/sortie", headers=diaz).json()
    assert client.post(f"/api/sorties/{sortie['id']}/confirm", headers=pilot).status_code == 200
    wait_for(
        lambda: client.get(f"/api/sorties/{sortie['id']}", headers=pilot).json(),
        lambda s: s["state"] in ("en_route", "on_scene"),
        timeout_s=120.0,
        what="the drone in the air",
    )
    closed = client.post(f"/api/officer/requests/{call['id']}/cancel", headers=diaz)
    assert closed.status_code == 200, closed.text
    home = wait_for(
        lambda: client.get(f"/api/sorties/{sortie['id']}", headers=pilot).json(),
        lambda s: s["state"] in ("returning", "docked"),
        timeout_s=60.0,
        what="the drone on its way home",
    )
    assert any("cancelled by officer ofc-diaz" in e["cause"] for e in home["events"])
    audit = client.get("/api/audit?limit=2000", headers=login(client, "admin")).json()
    cancels = [(e["actor"], e["subject"]) for e in audit if e["action"] == "officer.cancel"]
    assert ("ofc-lee", f"call:{held['id']}") in cancels
    assert ("ofc-diaz", f"call:{call['id']}") in cancels
    wait_for(
        lambda: client.get(f"/api/sorties/{sortie['id']}", headers=pilot).json(),
        lambda s: s["state"] == "docked",
        timeout_s=180.0,
        what="the drone back on its dock",
    )
