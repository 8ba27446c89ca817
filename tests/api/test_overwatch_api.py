"""Overwatch through the API: a call created flagged, flagged later and unflagged, and
what is refused (not a boolean, an unknown or closed call, a role that may not)."""

from __future__ import annotations

from tests.api.conftest import login

SCENE = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 2, "summary": "standoff"}


def test_a_call_is_kept_under_overwatch_when_flagged(client) -> None:
    disp = login(client, "disp")
    made = client.post("/api/calls", json={**SCENE, "overwatch": True}, headers=disp)
    assert made.status_code == 201, made.text
    assert made.json()["overwatch"] is True
    plain = client.post("/api/calls", json=SCENE, headers=disp).json()
    assert plain["overwatch"] is False

    flagged = client.put(
        f"/api/calls/{plain['id']}/overwatch", json={"overwatch": True}, headers=disp
    )
    assert flagged.status_code == 200, flagged.text
    assert flagged.json()["overwatch"] is True
    assert client.get(f"/api/calls/{plain['id']}", headers=disp).json()["overwatch"] is True
    off = client.put(f"/api/calls/{plain['id']}/overwatch", json={"overwatch": False}, headers=disp)
    assert off.json()["overwatch"] is False
    audit = client.get("/api/audit", headers=login(client, "admin")).json()
    flags = [e["details"] for e in audit if e["action"] == "call.overwatch"]
    assert flags[-2:] == [{"overwatch": True}, {"overwatch": False}]


def test_bad_overwatch_requests_are_refused_and_change_nothing(client) -> None:
    disp = login(client, "disp")
    call = client.post("/api/calls", json=SCENE, headers=disp).json()
    url = f"/api/calls/{call['id']}/overwatch"
    for body in ({"overwatch": "yes"}, {"overwatch": 1}, {}, {"overwatch": True, "x": 1}):
        assert client.put(url, json=body, headers=disp).status_code == 422, body
    assert client.put(url, content=b"{", headers=disp).status_code in (400, 422)
    assert client.put(url, json={"overwatch": True}).status_code == 401
    assert (
        client.put(url, json={"overwatch": True}, headers=login(client, "rtcc")).status_code == 403
    )
    missing = client.put("/api/calls/999999/overwatch", json={"overwatch": True}, headers=disp)
    assert missing.status_code == 404
    assert client.post(f"/api/calls/{call['id']}/close", headers=disp).status_code == 200
    closed = client.put(url, json={"overwatch": True}, headers=disp)
    assert closed.status_code == 409
    assert "closed" in closed.text
    assert client.get(f"/api/calls/{call['id']}", headers=disp).json()["overwatch"] is False
    bad = client.post("/api/calls", json={**SCENE, "overwatch": "yes"}, headers=disp)
    assert bad.status_code == 422
