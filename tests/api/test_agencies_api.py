"""Several agencies on one server (the shipped Albuquerque example, simulated drones):
who sees which calls, sorties, stations, audit entries, cameras, share links, console
messages and video, for every role of every agency and the fusion center; and mutual-aid
dispatch (always flies, pilot_confirm waits for the owning agency's pilot, never is
refused)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dfr.auth import Role, write_users_file
from dfr.cli import server_app
from dfr.loopback import free_udp_block
from dfr.settings import Settings
from dfr.store import NewVideoView
from tests import simulator
from tests.api.conftest import wait_ready

ALBUQUERQUE = Path(str(resources.files("dfr") / "data" / "albuquerque" / "albuquerque.toml"))
PASSWORD = "agency-pw"
#: name: (role, agency, granted agencies)
USERS: dict[str, tuple[Role, str | None, tuple[str, ...]]] = {
    "apd-disp": (Role.DISPATCHER, "apd", ()),
    "apd-pilot": (Role.PILOT, "apd", ()),
    "apd-rtcc": (Role.RTCC, "apd", ()),
    "apd-admin": (Role.ADMIN, "apd", ()),
    "bcso-disp": (Role.DISPATCHER, "bcso", ()),
    "bcso-pilot": (Role.PILOT, "bcso", ()),
    "bcso-rtcc": (Role.RTCC, "bcso", ()),
    "isleta-disp": (Role.DISPATCHER, "isleta", ()),
    "isleta-pilot": (Role.PILOT, "isleta", ()),
    "isleta-rtcc": (Role.RTCC, "isleta", ()),
    "apd-officer": (Role.OFFICER, "apd", ()),
    "bcso-officer": (Role.OFFICER, "bcso", ()),
    "fusion": (Role.RTCC, None, ("apd", "bcso", "isleta")),
    "fusion-apd-bcso": (Role.RTCC, None, ("apd", "bcso")),
    "admin": (Role.ADMIN, None, ()),
}
#: A scene in each agency's jurisdiction, and each agency's stations and drones.
SCENES = {
    "apd": (35.0900, -106.6400),
    "bcso": (35.0000, -106.6900),
    "isleta": (35.0200, -106.6000),
}
DRONES = {"apd": {"apd-1", "apd-2"}, "bcso": {"bcso-1"}, "isleta": {"isleta-1"}}
STATIONS = {"apd": {"apd-downtown", "apd-northeast"}, "bcso": {"bcso-south-valley"}}
STATIONS["isleta"] = {"isleta"}
SDP = {"Content-Type": "application/sdp"}
SHARED_SECRET, BCSO_SECRET = "shared-cad-secret", "bcso-cad-secret"
OUTSIDE = (35.2000, -106.6000)  # in no jurisdiction


def sees(user: str, agency: str) -> bool:
    """Whether `user` sees the records of `agency` (an officer: only its own request)."""
    role, own, granted = USERS[user]
    if role is Role.OFFICER:
        return False
    return (own is None and not granted) or agency == own or agency in granted


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("agencies")
    users = tmp / "users.toml"
    write_users_file(users, {n: (r, PASSWORD, a, s) for n, (r, a, s) in USERS.items()})
    settings = Settings(
        deployment=ALBUQUERQUE,
        state_dir=tmp / "state",
        users_file=users,
        sim_speed_factor=simulator.SERVER_SPEED_FACTOR,
        sim_port_base=free_udp_block(4),
        telemetry_push_hz=4.0,
        cad_webhook_token=SHARED_SECRET,
        agency_webhook_tokens={"bcso": BCSO_SECRET, "nowhere": "ignored"},
    )
    with TestClient(server_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


@pytest.fixture(scope="module")
def tokens(client: TestClient) -> dict[str, str]:
    out = {}
    for name in USERS:
        answer = client.post("/api/login", json={"username": name, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        out[name] = answer.json()["token"]
    return out


def auth(tokens: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[name]}"}


@pytest.fixture(scope="module")
def calls(client: TestClient, tokens: dict[str, str]) -> dict[str, int]:
    """One call in each agency's jurisdiction, created by that agency's dispatcher, never
    dispatched: the isolation matrix reads them."""
    out = {}
    for agency, (lat, lon) in SCENES.items():
        answer = client.post(
            "/api/calls",
            json={"latitude_deg": lat, "longitude_deg": lon, "priority": 3, "summary": "matrix"},
            headers=auth(tokens, f"{agency}-disp"),
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["agency"] == agency
        assert answer.json()["shared_with"] == []
        out[agency] = answer.json()["id"]
    return out


# -- the isolation matrix: roles x agencies x endpoints -----------------------------

#: endpoint (for a call id): the roles that may call it at all.
CALL_ENDPOINTS = {
    "/api/calls/{id}": set(Role),
    "/api/calls/{id}/recommendation": set(Role),
    "/api/calls/{id}/sortie": set(Role),
    "/api/calls/{id}/cameras": {Role.DISPATCHER, Role.PILOT, Role.RTCC, Role.ADMIN},
    "/api/calls/{id}/share-links": {Role.DISPATCHER, Role.PILOT, Role.RTCC},
}


@pytest.mark.parametrize("endpoint", sorted(CALL_ENDPOINTS))
@pytest.mark.parametrize("agency", sorted(SCENES))
@pytest.mark.parametrize("user", sorted(USERS))
def test_a_call_is_seen_by_its_agency_and_those_granted_it_only(
    client: TestClient,
    tokens: dict[str, str],
    calls: dict[str, int],
    user: str,
    agency: str,
    endpoint: str,
) -> None:
    answer = client.get(endpoint.format(id=calls[agency]), headers=auth(tokens, user))
    role = USERS[user][0]
    # An officer account is scoped to its own request's call.
    if role is Role.OFFICER or role not in CALL_ENDPOINTS[endpoint]:
        expected = 403
    else:
        expected = 200 if sees(user, agency) else 404
    assert answer.status_code == expected, answer.text
    if expected == 404:
        assert answer.json() == {"detail": f"no call {calls[agency]}"}  # as if absent


@pytest.mark.parametrize("user", sorted(USERS))
def test_lists_hold_the_agencies_a_user_sees(
    client: TestClient, tokens: dict[str, str], calls: dict[str, int], user: str
) -> None:
    headers = auth(tokens, user)
    listed = {c["id"] for c in client.get("/api/calls", headers=headers).json()}
    for agency, call_id in calls.items():
        assert (call_id in listed) is sees(user, agency), agency
    stations = {s["id"] for s in client.get("/api/stations", headers=headers).json()}
    deployment = client.get("/api/deployment", headers=headers).json()
    streams = {s["drone_id"] for s in client.get("/api/video/streams", headers=headers).json()}
    for agency in SCENES:
        idle = not (STATIONS[agency] & _busy_stations(client, tokens))
        if idle:  # a drone flying for a shared call is seen by that call's agency too
            assert bool(STATIONS[agency] & stations) is sees(user, agency)
            assert bool(DRONES[agency] & streams) is sees(user, agency)
    assert {a["id"] for a in deployment["agencies"]} == {"apd", "bcso", "isleta"}
    me = client.get("/api/me", headers=headers).json()
    assert me["agency"] == USERS[user][1]


def _busy_stations(client: TestClient, tokens: dict[str, str]) -> set[str]:
    everything = client.get("/api/sorties?active=true", headers=auth(tokens, "admin")).json()
    return {s["station_id"] for s in everything}


@pytest.mark.parametrize("user", ["apd-disp", "bcso-pilot", "isleta-disp", "fusion-apd-bcso"])
@pytest.mark.parametrize("agency", sorted(SCENES))
def test_whep_offers_for_another_agencys_drone_are_refused(
    client: TestClient, tokens: dict[str, str], user: str, agency: str
) -> None:
    drone = sorted(DRONES[agency])[0]
    answer = client.post(f"/whep/{drone}", content="v=0\r\n", headers={**auth(tokens, user), **SDP})
    if sees(user, agency):
        assert answer.status_code != 403  # a bad offer: the relay's 400, but not refused
    else:
        assert answer.status_code == 403
        assert answer.json()["detail"] == "this stream is another agency's"


CAMERAS = {"apd": {"central-4th", "civic-plaza"}, "bcso": {"isleta-rio-bravo"}}
CAMERAS["isleta"] = {"isleta-hq"}


@pytest.mark.parametrize(
    "user", sorted(u for u, (r, _, _) in USERS.items() if r is not Role.OFFICER)
)
def test_fixed_cameras_are_their_jurisdictions_agencys(
    client: TestClient, tokens: dict[str, str], user: str
) -> None:
    headers = auth(tokens, user)
    near = client.get(
        "/api/cameras?latitude_deg=35.05&longitude_deg=-106.64&within_m=10000&limit=100",
        headers=headers,
    ).json()
    listed = {c["id"] for c in near}
    for agency, cameras in CAMERAS.items():
        assert (cameras <= listed) is sees(user, agency), agency
        assert bool(cameras & listed) is sees(user, agency), agency
        offer = client.post(
            f"/whep/cam-{sorted(cameras)[0]}", content="v=0\r\n", headers={**headers, **SDP}
        )
        assert (offer.status_code == 403) is not sees(user, agency), (agency, offer.text)


def test_cameras_and_share_links_stay_in_their_agency(
    client: TestClient, tokens: dict[str, str], calls: dict[str, int]
) -> None:
    apd_call = calls["apd"]
    link = client.post(f"/api/calls/{apd_call}/share", headers=auth(tokens, "apd-disp"))
    assert link.status_code == 201
    link_id = link.json()["id"]
    for user in ("bcso-disp", "bcso-rtcc"):
        assert (
            client.post(f"/api/calls/{apd_call}/share", headers=auth(tokens, user)).status_code
            == 404
        )
        revoke = client.delete(f"/api/share-links/{link_id}", headers=auth(tokens, user))
        assert revoke.status_code == 404
    links = client.get(f"/api/calls/{apd_call}/share-links", headers=auth(tokens, "fusion"))
    assert [x["id"] for x in links.json()] == [link_id]
    assert client.delete(f"/api/share-links/{link_id}", headers=auth(tokens, "apd-rtcc")).is_success


def test_the_audit_log_shows_an_agency_its_own_entries(
    client: TestClient, tokens: dict[str, str], calls: dict[str, int]
) -> None:
    def subjects(user: str) -> set[str]:
        entries = client.get("/api/audit?limit=5000", headers=auth(tokens, user)).json()
        return {e["subject"] for e in entries}

    everything = subjects("admin")
    for agency, call_id in calls.items():
        assert f"call:{call_id}" in everything
        for user in ("apd-rtcc", "bcso-rtcc", "apd-admin", "fusion", "fusion-apd-bcso"):
            assert (f"call:{call_id}" in subjects(user)) is sees(user, agency), (user, agency)


#: A console user, the agency of a call it must never hear of, and one whose call it hears.
FEEDS = [
    ("bcso-disp", "apd", "bcso"),
    ("apd-disp", "isleta", "apd"),
    ("isleta-pilot", "bcso", "isleta"),
    ("fusion-apd-bcso", "isleta", "bcso"),
]


@pytest.mark.parametrize(("user", "unseen", "seen"), FEEDS)
def test_the_console_feed_carries_only_the_agencys_calls_and_drones(
    client: TestClient, tokens: dict[str, str], user: str, unseen: str, seen: str
) -> None:
    mine = {d for agency, drones in DRONES.items() if sees(user, agency) for d in drones}
    with client.websocket_connect("/api/ws") as ws:
        ws.send_json({"type": "auth", "token": tokens[user]})
        assert ws.receive_json()["type"] == "hello"
        streams = ws.receive_json()
        assert streams["type"] == "streams"
        shown = {s["drone_id"] for s in streams["streams"]}
        assert shown <= mine | _flying_for(client, tokens, user)
        # A call the user must not see, then one it sees: the console hears the second
        # and never the first (the feed keeps the bus's order).
        created = {}
        for agency in (unseen, seen):
            lat, lon = SCENES[agency]
            answer = client.post(
                "/api/calls",
                json={"latitude_deg": lat, "longitude_deg": lon, "summary": "feed"},
                headers=auth(tokens, f"{agency}-disp"),
            )
            created[agency] = answer.json()["id"]
        while True:
            message = ws.receive_json()
            if message["type"] == "telemetry":
                drones = {d["id"] for d in message["drones"]}
                assert drones <= mine | _flying_for(client, tokens, user)
                continue
            if message["type"] == "call":
                assert message["call"]["id"] != created[unseen]
                if message["call"]["id"] == created[seen]:
                    break
            assert message.get("call_id") != created[unseen]


def _flying_for(client: TestClient, tokens: dict[str, str], user: str) -> set[str]:
    """Other agencies' drones flying calls `user` sees (mutual aid)."""
    sorties = client.get("/api/sorties?active=true", headers=auth(tokens, user)).json()
    return {s["drone_id"] for s in sorties}


@pytest.mark.parametrize(
    ("secret", "where", "agency", "shared_with"),
    [
        (BCSO_SECRET, OUTSIDE, "bcso", []),  # outside: the sender's agency
        (SHARED_SECRET, OUTSIDE, "apd", []),  # outside: cad reports to APD
        (BCSO_SECRET, SCENES["apd"], "apd", ["bcso"]),  # APD's, shared with its reporter
        (SHARED_SECRET, SCENES["isleta"], "isleta", []),
    ],
)
def test_a_webhook_call_is_the_jurisdictions_else_its_senders(
    client: TestClient,
    tokens: dict[str, str],
    secret: str,
    where: tuple[float, float],
    agency: str,
    shared_with: list[str],
) -> None:
    incident = f"CAD-{secret}-{where[0]}"
    body = {"incident_id": incident, "latitude": where[0], "longitude": where[1]}
    answer = client.post("/api/webhooks/cad", json=body, headers={"X-DFR-Token": secret})
    assert answer.status_code == 201, answer.text
    assert answer.json()["agency"] == agency
    assert answer.json()["shared_with"] == shared_with
    call_id = answer.json()["id"]
    seen = client.get(f"/api/calls/{call_id}", headers=auth(tokens, "bcso-disp")).status_code
    assert seen == (200 if "bcso" in (agency, *shared_with) else 404)
    wrong = client.post("/api/webhooks/cad", json=body, headers={"X-DFR-Token": "ignored"})
    assert wrong.status_code == 401


# -- mutual aid -----------------------------------------------------------------


def _call(client: TestClient, tokens: dict[str, str], agency: str) -> int:
    lat, lon = SCENES[agency]
    answer = client.post(
        "/api/calls",
        json={"latitude_deg": lat, "longitude_deg": lon, "priority": 2, "summary": "aid"},
        headers=auth(tokens, f"{agency}-disp"),
    )
    assert answer.status_code == 201
    return answer.json()["id"]


def _wait_state(
    client: TestClient, headers: dict[str, str], sortie_id: int, wanted: set[str]
) -> dict:
    deadline = time.monotonic() + 60
    while (sortie := client.get(f"/api/sorties/{sortie_id}", headers=headers).json())[
        "state"
    ] not in wanted:
        assert time.monotonic() < deadline, sortie["state"]
        time.sleep(0.2)
    return sortie


def test_mutual_aid_never_is_refused_with_the_rule(
    client: TestClient, tokens: dict[str, str]
) -> None:
    call_id = _call(client, tokens, "apd")
    answer = client.post(
        f"/api/calls/{call_id}/dispatch",
        json={"station_id": "isleta"},
        headers=auth(tokens, "apd-disp"),
    )
    assert answer.status_code == 409
    assert "(mutual aid: never)" in answer.json()["detail"]
    assert "agency 'isleta'" in answer.json()["detail"]
    rec = client.get(f"/api/calls/{call_id}/recommendation", headers=auth(tokens, "apd-disp"))
    assert "isleta" not in {c["station_id"] for c in rec.json()["candidates"]}
    call = client.get(f"/api/calls/{call_id}", headers=auth(tokens, "apd-disp")).json()
    assert call["status"] == "new"
    assert call["shared_with"] == []


def test_mutual_aid_pilot_confirm_waits_for_the_owning_agencys_pilot(
    client: TestClient, tokens: dict[str, str]
) -> None:
    call_id = _call(client, tokens, "isleta")
    rec = client.get(f"/api/calls/{call_id}/recommendation", headers=auth(tokens, "isleta-disp"))
    bcso = next(c for c in rec.json()["candidates"] if c["station_id"] == "bcso-south-valley")
    assert (bcso["agency"], bcso["mutual_aid"]) == ("bcso", "pilot_confirm")
    sent = client.post(
        f"/api/calls/{call_id}/dispatch",
        json={"station_id": "bcso-south-valley"},
        headers=auth(tokens, "isleta-disp"),
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["call"]["shared_with"] == ["bcso"]
    sortie_id = sent.json()["sortie"]["id"]
    held = _wait_state(client, auth(tokens, "isleta-disp"), sortie_id, {"awaiting_pilot"})
    assert held["drone_id"] == "bcso-1"
    # The call is shared with BCSO now: its pilot sees what the drone flies to.
    shared = client.get(f"/api/calls/{call_id}", headers=auth(tokens, "bcso-pilot")).json()
    assert shared["agency"] == "isleta"
    assert shared["shared_with"] == ["bcso"]
    assert client.get(f"/api/calls/{call_id}", headers=auth(tokens, "apd-disp")).status_code == 404
    # Isleta's pilot may not launch BCSO's drone; APD's does not even see the sortie.
    refused = client.post(f"/api/sorties/{sortie_id}/confirm", headers=auth(tokens, "isleta-pilot"))
    assert refused.status_code == 403
    assert "only that agency's pilot" in refused.json()["detail"]
    unseen = client.post(f"/api/sorties/{sortie_id}/confirm", headers=auth(tokens, "apd-pilot"))
    assert unseen.status_code == 404
    confirmed = client.post(f"/api/sorties/{sortie_id}/confirm", headers=auth(tokens, "bcso-pilot"))
    assert confirmed.status_code == 200, confirmed.text
    _wait_state(
        client, auth(tokens, "bcso-pilot"), sortie_id, {"launching", "en_route", "on_scene"}
    )
    entries = client.get("/api/audit?limit=5000", headers=auth(tokens, "admin")).json()
    about = [e for e in entries if e["subject"] in (f"call:{call_id}", f"sortie:{sortie_id}")]
    aid = {e["action"]: e for e in about if "agencies" in e["details"]}
    assert aid["mutual_aid.dispatch"]["details"]["agencies"] == ["bcso", "isleta"]
    assert aid["mutual_aid.dispatch"]["details"]["rule"] == "pilot_confirm"
    assert aid["call.share_agency"]["details"]["agencies"] == ["isleta", "bcso"]
    assert aid["mutual_aid.launch"]["details"]["agencies"] == ["bcso", "isleta"]
    assert aid["mutual_aid.launch"]["actor"] == "bcso-pilot"
    refusal = next(e for e in about if e["actor"] == "isleta-pilot")
    assert refusal["outcome"] == "refused"
    assert refusal["details"]["agencies"] == ["bcso", "isleta"]
    # Both agencies read these entries; APD reads none of them.
    for user, seen in (("isleta-disp", True), ("bcso-rtcc", True), ("apd-rtcc", False)):
        if USERS[user][0] in (Role.RTCC, Role.ADMIN):
            mine = client.get("/api/audit?limit=5000", headers=auth(tokens, user)).json()
            ids = {e["id"] for e in mine}
            assert (aid["mutual_aid.dispatch"]["id"] in ids) is seen, user


def test_mutual_aid_always_flies_at_once(client: TestClient, tokens: dict[str, str]) -> None:
    call_id = _call(client, tokens, "bcso")
    sent = client.post(
        f"/api/calls/{call_id}/dispatch",
        json={"station_id": "apd-downtown"},
        headers=auth(tokens, "bcso-disp"),
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["mutual_aid"] == "always"
    sortie_id = sent.json()["sortie"]["id"]
    flying = _wait_state(client, auth(tokens, "bcso-disp"), sortie_id, {"en_route", "on_scene"})
    assert flying["drone_id"] == "apd-1"
    # BCSO's consoles see APD's drone while it flies their call, and may watch it.
    stations = {
        s["id"] for s in client.get("/api/stations", headers=auth(tokens, "bcso-disp")).json()
    }
    assert "apd-downtown" in stations
    assert "apd-northeast" not in stations
    offer = client.post(
        "/whep/apd-1", content="v=0\r\n", headers={**auth(tokens, "bcso-disp"), **SDP}
    )
    assert offer.status_code != 403
    # BCSO sees APD's drone fly its call, but only APD commands it.
    theirs = client.post(
        "/api/drones/apd-1/commands", json={"command": "hold"}, headers=auth(tokens, "bcso-pilot")
    )
    assert theirs.status_code == 403
    assert "its pilots command it" in theirs.json()["detail"]
    entries = client.get("/api/audit?limit=5000", headers=auth(tokens, "bcso-rtcc")).json()
    refusal = [e for e in entries if e["action"] == "command.hold" and e["actor"] == "bcso-pilot"]
    assert refusal[-1]["outcome"] == "refused"
    assert refusal[-1]["details"]["agencies"] == ["apd", "bcso"]
    # APD's pilot sees the call its drone flies to, and commands its own drone home.
    assert client.get(f"/api/calls/{call_id}", headers=auth(tokens, "apd-pilot")).is_success
    home = client.post(
        "/api/drones/apd-1/commands", json={"command": "return"}, headers=auth(tokens, "apd-pilot")
    )
    assert home.status_code == 200, home.text
    # Isleta sees none of it.
    assert (
        client.get(f"/api/sorties/{sortie_id}", headers=auth(tokens, "isleta-disp")).status_code
        == 404
    )
    refused = client.post(
        "/api/drones/apd-1/commands", json={"command": "hold"}, headers=auth(tokens, "isleta-pilot")
    )
    assert refused.status_code == 404


def test_who_watched_is_told_to_the_agencies_of_the_stream_or_its_call(
    client: TestClient, tokens: dict[str, str]
) -> None:
    # Views as the relay records them (a real WebRTC viewer is the video tests' business):
    # APD watching its drone on its own call, BCSO watching APD's drone fly BCSO's call,
    # and Isleta watching its own drone.
    store = client.app.state.ops._store
    bcso_call = _call(client, tokens, "bcso")
    apd_call = _call(client, tokens, "apd")
    for who, stream, call_id in (
        ("apd-rtcc", "apd-1", apd_call),
        ("bcso-rtcc", "apd-1", bcso_call),
        ("isleta-rtcc", "isleta-1", None),
    ):
        view = NewVideoView(who, "rtcc", None, stream, call_id, None, "127.0.0.1")
        client.portal.call(store.start_video_view, view)
    views = client.get("/api/video/views", headers=auth(tokens, "admin")).json()
    assert len(views) == 3
    calls_seen = {
        user: {c["id"] for c in client.get("/api/calls", headers=auth(tokens, user)).json()}
        for user in ("apd-rtcc", "bcso-rtcc", "isleta-rtcc", "fusion")
    }
    for user, seen_calls in calls_seen.items():
        agency = USERS[user][1]
        theirs = client.get("/api/video/views", headers=auth(tokens, user)).json()
        for view in theirs:
            own = agency is None or view["stream_id"] in DRONES[agency]
            assert own or view["call_id"] in seen_calls, (user, view)
        expected = {"apd-rtcc": 2, "bcso-rtcc": 1, "isleta-rtcc": 1}.get(user)
        if expected is not None:
            assert len(theirs) == expected, (user, theirs)
        if user == "fusion":
            assert len(theirs) == len(views)


def test_an_officer_sees_its_own_request_in_another_agencys_jurisdiction(
    client: TestClient, tokens: dict[str, str]
) -> None:
    lat, lon = SCENES["bcso"]
    body = {"latitude_deg": lat, "longitude_deg": lon, "accuracy_m": 10, "note": "backup"}
    asked = client.post("/api/officer/requests", json=body, headers=auth(tokens, "apd-officer"))
    assert asked.status_code == 201, asked.text
    call = asked.json()
    assert call["agency"] == "bcso"  # the scene's jurisdiction
    mine = client.get(f"/api/calls/{call['id']}", headers=auth(tokens, "apd-officer"))
    assert mine.status_code == 200
    listed = client.get("/api/calls", headers=auth(tokens, "apd-officer")).json()
    assert [c["id"] for c in listed] == [call["id"]]
    # Shared with the officer's own agency, whose dispatchers see what their officer asked.
    assert call["shared_with"] == ["apd"]
    assert client.get(f"/api/calls/{call['id']}", headers=auth(tokens, "apd-disp")).is_success
    isleta = client.get(f"/api/calls/{call['id']}", headers=auth(tokens, "isleta-disp"))
    assert isleta.status_code == 404


def test_an_officers_request_outside_every_jurisdiction_is_the_officers_agencys(
    client: TestClient, tokens: dict[str, str]
) -> None:
    # In the operational area, in no agency's jurisdiction; the first agency listed is apd.
    body = {"latitude_deg": 35.0025, "longitude_deg": -106.5375, "accuracy_m": 10}
    asked = client.post("/api/officer/requests", json=body, headers=auth(tokens, "bcso-officer"))
    assert asked.status_code == 201, asked.text
    call = asked.json()
    assert call["agency"] == "bcso"
    client.post(f"/api/officer/requests/{call['id']}/cancel", headers=auth(tokens, "bcso-officer"))


SORTIE_ENDPOINTS = ("/api/sorties/{id}", "/api/sorties/{id}/track", "/api/sorties/{id}/plan")
SORTIE_ENDPOINTS += ("/api/sorties/{id}/holds",)
STATION_AGENCY = {station: agency for agency, stations in STATIONS.items() for station in stations}


@pytest.mark.parametrize("user", sorted(USERS))
def test_a_sortie_is_seen_by_its_drones_agency_and_its_calls(
    client: TestClient, tokens: dict[str, str], user: str
) -> None:
    """After the mutual-aid flights: every sortie, for every user, on each sortie route."""
    admin = auth(tokens, "admin")
    sorties = client.get("/api/sorties", headers=admin).json()
    assert len(sorties) >= 2
    role = USERS[user][0]
    mine = client.get("/api/sorties", headers=auth(tokens, user))
    assert mine.status_code == (403 if role is Role.OFFICER else 200)
    listed = {s["id"] for s in mine.json()} if mine.is_success else set()
    for sortie in sorties:
        call = client.get(f"/api/calls/{sortie['call_id']}", headers=admin).json()
        owners = {STATION_AGENCY[sortie["station_id"]], call["agency"], *call["shared_with"]}
        seen = any(sees(user, agency) for agency in owners)
        if role is not Role.OFFICER:
            assert (sortie["id"] in listed) is seen
        for endpoint in SORTIE_ENDPOINTS:
            answer = client.get(endpoint.format(id=sortie["id"]), headers=auth(tokens, user))
            if role is Role.OFFICER:
                assert answer.status_code == 403, endpoint
            else:
                assert answer.status_code == (200 if seen else 404), (endpoint, answer.text)
