"""Input an attacker or an unlucky operator sends: each gets a clear 4xx in the one error
shape, nothing already stored is lost, and the server keeps serving."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.api.conftest import WEBHOOK_TOKEN, login

TOO_BIG = 2**63  # one past SQLite's largest integer
JSON = {"Content-Type": "application/json"}
WEBHOOK = {**JSON, "X-DFR-Token": WEBHOOK_TOKEN}


def calls(client, headers) -> list[dict]:
    return client.get("/api/calls", headers=headers).json()


def assert_422(response) -> list[dict]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert all({"loc", "msg", "type"} <= set(d) for d in detail)
    return detail


def test_ids_beyond_sqlite_are_refused_not_crashed_on(client) -> None:
    headers = login(client, "disp")
    assert_422(client.get(f"/api/calls/{TOO_BIG}", headers=headers))
    assert_422(client.post(f"/api/calls/{TOO_BIG}/dispatch", headers=headers))
    assert_422(client.get(f"/api/sorties/{TOO_BIG}", headers=headers))
    assert_422(client.get("/api/audit", params={"after_id": TOO_BIG}, headers=headers))
    launch = {"station_id": "hq", "call_id": TOO_BIG}
    assert_422(client.post("/api/launch", json=launch, headers=headers))
    assert client.get(f"/api/calls/{TOO_BIG - 1}", headers=headers).status_code == 404


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e309"])
def test_non_finite_numbers_are_refused_everywhere(client, number) -> None:
    headers = {**login(client, "disp"), **JSON}
    before = calls(client, headers)
    call = f'{{"latitude_deg": {number}, "longitude_deg": -104.6}}'
    assert_422(client.post("/api/calls", content=call, headers=headers))
    cad = f'{{"incident_id": "X1", "latitude": 38.2, "longitude": {number}}}'
    assert_422(client.post("/api/webhooks/cad", content=cad, headers=WEBHOOK))
    shot = f'{{"alert_id": "G1", "latitude": 38.2, "longitude": -104.6, "confidence": {number}}}'
    assert_422(client.post("/api/webhooks/gunshot", content=shot, headers=WEBHOOK))
    orbit = f'{{"command": "orbit", "radius_m": {number}}}'
    assert_422(client.post("/api/drones/dfr-1/commands", content=orbit, headers=headers))
    login_body = f'{{"username": "disp", "password": {number}}}'
    assert_422(client.post("/api/login", content=login_body, headers=JSON))
    assert calls(client, headers) == before


def test_lone_surrogates_and_booleans_are_not_text_or_numbers(client) -> None:
    headers = {**login(client, "disp"), **JSON}
    before = calls(client, headers)
    surrogate = '{"latitude_deg": 38.26, "longitude_deg": -104.6, "summary": "\\ud800"}'
    assert_422(client.post("/api/calls", content=surrogate, headers=headers))
    cad = '{"incident_id": "\\udfff", "latitude": 38.2, "longitude": -104.6}'
    assert_422(client.post("/api/webhooks/cad", content=cad, headers=WEBHOOK))
    false = {"latitude_deg": False, "longitude_deg": -104.6}
    assert_422(client.post("/api/calls", json=false, headers=headers))
    text = {"latitude_deg": "38.26", "longitude_deg": -104.6}
    assert_422(client.post("/api/calls", json=text, headers=headers))
    assert calls(client, headers) == before


def test_a_webhook_secret_with_foreign_bytes_is_just_wrong(client) -> None:
    body = {"incident_id": "X2", "latitude": 38.2, "longitude": -104.6}
    wrong = client.post("/api/webhooks/cad", json=body, headers={"X-DFR-Token": b"\xff\xfe"})
    assert wrong.status_code == 401


def test_oversized_bodies_are_refused_while_read(client) -> None:
    headers = {**login(client, "disp"), **JSON}
    before = calls(client, headers)
    huge = b'{"username": "' + b"a" * (10 * 1024 * 1024) + b'", "password": "x"}'
    refused = client.post("/api/login", content=huge, headers=JSON)
    assert refused.status_code == 413
    assert "larger than" in refused.json()["detail"]

    def chunks():  # no Content-Length: the limit holds while reading
        yield b'{"latitude_deg": 38.26, "longitude_deg": -104.6, "summary": "'
        for _ in range(200):
            yield b"x" * 1024
        yield b'"}'

    streamed = client.post("/api/calls", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert calls(client, headers) == before
    assert client.get("/api/health").status_code == 200


def test_a_binary_frame_on_the_console_socket_is_ignored(client) -> None:
    token = login(client, "disp")["Authorization"].split()[1]
    # The token in the query still works (older clients); the pages send it in a message.
    with client.websocket_connect(f"/api/ws?token={token}") as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_bytes(b"\x00\xff binary")
        ws.send_text("not json either")
        message = ws.receive_json()
        while message["type"] != "telemetry":
            message = ws.receive_json()
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/api/ws") as ws:
        ws.receive_json()


def test_repeated_wrong_passwords_are_throttled_and_audited(client) -> None:
    wrong = {"username": "mallory", "password": "guess"}
    statuses = [client.post("/api/login", json=wrong).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    throttled = client.post("/api/login", json=wrong)
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    # Another account from the same address is not locked out by mallory's guesses.
    assert client.post("/api/login", json={"username": "rtcc", "password": "rtcc-pw"}).is_success
    audit = client.get("/api/audit", params={"limit": 5000}, headers=login(client, "admin"))
    logins = [
        (e["actor"], e["outcome"], e["reason"]) for e in audit.json() if e["action"] == "login"
    ]
    assert logins.count(("mallory", "refused", "unknown user or wrong password")) == 5
    too_many = "too many failed logins: wait before trying again"
    assert logins.count(("mallory", "refused", too_many)) == 2  # every 429, within the bound
    assert ("rtcc", "accepted", "") in logins


@pytest.mark.parametrize(
    ("hook", "body"),
    [
        ("cad", {"incident_id": "P26-0001", "latitude": 38.26, "longitude": -104.60}),
        ("gunshot", {"alert_id": "G-0001", "latitude": 38.25, "longitude": -104.61}),
    ],
)
def test_a_webhook_sent_again_is_the_same_call(client, hook, body) -> None:
    headers = login(client, "disp")
    first = client.post(f"/api/webhooks/{hook}", json=body, headers=WEBHOOK)
    assert first.status_code == 201
    count = len(calls(client, headers))
    again = client.post(f"/api/webhooks/{hook}", json=body, headers=WEBHOOK)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert len(calls(client, headers)) == count


def test_pages_say_what_they_may_load_and_that_nobody_may_frame_them(client) -> None:
    for path in ("/", "/dispatcher", "/pilot", "/officer", "/wall"):
        page = client.get(path)
        assert page.status_code == 200
        policy = page.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy
        assert "script-src 'self'" in policy
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["X-Frame-Options"] == "DENY"


def test_calls_sorties_and_audit_come_a_page_at_a_time(client) -> None:
    headers = login(client, "disp")
    for _ in range(3):
        client.post(
            "/api/calls", json={"latitude_deg": 38.26, "longitude_deg": -104.6}, headers=headers
        )
    everything = [c["id"] for c in calls(client, headers)]
    pages: list[int] = []
    after = 0
    while True:
        page = client.get("/api/calls", params={"after_id": after, "limit": 2}, headers=headers)
        pages += [c["id"] for c in page.json()]
        if "X-Next-After-Id" not in page.headers:
            break
        after = int(page.headers["X-Next-After-Id"])
    assert pages == everything
    audit = client.get("/api/audit", params={"limit": 2}, headers=headers)
    assert audit.headers["X-Next-After-Id"] == str(audit.json()[-1]["id"])
    assert_422(client.get("/api/calls", params={"limit": 0}, headers=headers))
    assert_422(client.get("/api/sorties", params={"after_id": TOO_BIG}, headers=headers))
    active = client.get("/api/sorties", params={"active": "true"}, headers=headers).json()
    ended = {"docked", "landed", "aborted", "fault"}
    assert all(s["state"] not in ended for s in active)


def test_a_whole_number_written_with_a_point_is_that_integer(client) -> None:
    # JSON has one number type: a CAD system that writes every number as a double must not
    # have its incident refused. A fraction, a boolean or a string still is.
    cad = '{"incident_id": "P26-7001", "latitude": 38.26, "longitude": -104.6, "priority": 2.0}'
    created = client.post("/api/webhooks/cad", content=cad, headers=WEBHOOK)
    assert created.status_code == 201, created.text
    assert created.json()["priority"] == 2
    shot = '{"alert_id": "G-7001", "latitude": 38.25, "longitude": -104.61, "rounds": 3.0}'
    fired = client.post("/api/webhooks/gunshot", content=shot, headers=WEBHOOK)
    assert fired.status_code == 201, fired.text
    assert "3 round(s)" in fired.json()["summary"]
    headers = {**login(client, "disp"), **JSON}
    for priority in ("2.5", "true", '"2"', "1e300"):
        call = f'{{"latitude_deg": 38.26, "longitude_deg": -104.6, "priority": {priority}}}'
        assert_422(client.post("/api/calls", content=call, headers=headers))
