"""The audit log holds every attempt with its outcome: accepted, refused with what the client
was told, denied (a bad token, a missing right) with who, where from and why; and a flood of
denied requests cannot fill it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from dfr.cli import server_app
from dfr.settings import Settings
from dfr.store import Store
from tests.api.conftest import WEBHOOK_TOKEN, login, make_settings, wait_healthy, wait_ready

SCENE = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 1, "summary": "x"}
ADDRESS = "testclient"  # the client address TestClient's requests come from


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A server of its own: every denied request of this module is itemised."""
    settings = make_settings(
        tmp_path_factory.mktemp("audit"),
        refusals_audited_per_address=1000,
        refusal_audit_window_s=3600.0,
    )
    with TestClient(server_app(settings)) as test_client:
        wait_ready(test_client)
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


def test_forbidden_requests_are_audited_with_who_where_from_and_why(client) -> None:
    disp, rtcc = login(client, "disp"), login(client, "rtcc")
    call = client.post("/api/calls", json=SCENE, headers=disp).json()
    other = client.post("/api/calls", json=SCENE, headers=disp).json()
    link = client.post(f"/api/calls/{call['id']}/share", headers=disp).json()
    officer = {"Authorization": f"Bearer {link['token']}"}
    start = last_id(client)
    role = client.post("/api/calls", json=SCENE, headers=rtcc)
    scope = client.get(f"/api/calls/{other['id']}", headers=officer)
    assert (role.status_code, scope.status_code) == (403, 403)
    denied = entries(client, start, "access.denied")
    assert [(e["actor"], e["subject"], e["outcome"], e["reason"]) for e in denied] == [
        ("rtcc", "POST /api/calls", "denied", role.json()["detail"]),
        ("officer-link:disp", f"GET /api/calls/{other['id']}", "denied", scope.json()["detail"]),
    ]
    assert all(e["details"] == {"address": ADDRESS, "status": 403} for e in denied)
    assert "another call" in denied[1]["reason"]


def test_a_token_presented_but_not_valid_is_audited(client) -> None:
    start = last_id(client)
    forged = client.get("/api/calls", headers={"Authorization": "Bearer forged-token"})
    in_query = client.get("/api/deployment", params={"token": "also-forged"})
    session = login(client, "rtcc")
    assert client.post("/api/logout", headers=session).status_code == 204
    logged_out = client.get("/api/me", headers=session)
    nothing = client.get("/api/sorties")  # no token at all: nobody to name, nothing to audit
    assert [r.status_code for r in (forged, in_query, logged_out, nothing)] == [401] * 4
    denied = entries(client, start, "access.denied")
    assert [(e["actor"], e["subject"], e["reason"]) for e in denied] == [
        ("unknown", "GET /api/calls", "invalid token"),
        ("unknown", "GET /api/deployment", "invalid token"),
        ("rtcc", "GET /api/me", logged_out.json()["detail"]),
    ]
    assert all(e["details"] == {"address": ADDRESS, "status": 401} for e in denied)
    # A token in a URL never reaches the log.
    assert not any("also-forged" in str(e) for e in audit(client, start))


def test_a_bad_token_on_the_console_socket_and_a_wrong_webhook_secret_are_audited(client) -> None:
    start = last_id(client)
    with client.websocket_connect("/api/ws") as ws:
        ws.send_json({"type": "auth", "token": "forged"})
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()
    body = {"incident_id": "A-1", "latitude": 38.26, "longitude": -104.60}
    wrong = client.post("/api/webhooks/cad", json=body, headers={"X-DFR-Token": "guess"})
    missing = client.post("/api/webhooks/cad", json=body)
    assert (wrong.status_code, missing.status_code) == (401, 401)
    right = client.post("/api/webhooks/cad", json=body, headers={"X-DFR-Token": WEBHOOK_TOKEN})
    assert right.status_code == 201
    denied = entries(client, start, "access.denied")
    assert [(e["actor"], e["subject"], e["reason"]) for e in denied] == [
        ("unknown", "WS /api/ws", "invalid token"),
        ("unknown", "POST /api/webhooks/cad", wrong.json()["detail"]),
    ]


def test_logins_are_audited_with_their_outcome(client) -> None:
    start = last_id(client)
    assert client.post("/api/login", json={"username": "disp", "password": "no"}).status_code == 401
    login(client, "disp")
    logins = [
        (e["actor"], e["outcome"], e["reason"], e["details"])
        for e in entries(client, start, "login")
    ]
    assert logins[:2] == [
        ("disp", "refused", "unknown user or wrong password", {"address": ADDRESS}),
        ("disp", "accepted", "", {"address": ADDRESS}),
    ]


def test_a_flood_of_denied_requests_cannot_fill_the_audit_log(tmp_path) -> None:
    per_address, flood = 5, 60
    settings = make_settings(
        tmp_path, refusals_audited_per_address=per_address, refusal_audit_window_s=3600.0
    )
    with TestClient(server_app(settings)) as client:
        wait_healthy(client)
        bad = {"Authorization": "Bearer forged-token"}
        statuses = {client.get("/api/calls", headers=bad).status_code for _ in range(flood)}
        assert statuses == {401}
        rtcc = login(client, "rtcc")
        assert client.post("/api/calls", json=SCENE, headers=rtcc).status_code == 403
        # The flood cost the address its entries, not the server its log: logins still count.
        assert client.get("/api/audit", headers=rtcc).status_code == 200
    # The server has stopped: read the database file it leaves behind.
    log = asyncio.run(_audit_log(settings))
    denied = [e for e in log if e.action == "access.denied"]
    assert len(denied) == per_address
    assert all(e.details["address"] == ADDRESS for e in denied)
    (summary,) = [e for e in log if e.action == "audit.suppressed"]
    assert summary.outcome == "denied"
    assert summary.details["suppressed"] == flood + 1 - per_address
    assert summary.details["by_address"] == {ADDRESS: flood + 1 - per_address}
    assert summary.id == log[-1].id  # written when the server stopped
    assert ("rtcc", "login") in {(e.actor, e.action) for e in log}


async def _audit_log(settings: Settings) -> list:
    async with Store.open(settings.database_path) as store:
        return await store.audit_log(limit=10_000)
