"""Two servers on one PostgreSQL database (dfr.link_leases, dfr.event_relay): the first
links the drones, the second links none. A console on the second sees the first's
drones in its telemetry and flying, and a call created on the first; a pilot's command
on the second is refused naming the first; a dispatch through the second is launched by
the first, also when the request to launch it was lost on the way, and once only; one
drone dispatched through both at once goes to one call only; and a server that can no
longer renew its leases lets its flight go to the other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from dfr.auth import Principal, Role
from dfr.cli import server_app
from dfr.link_leases import LinkLeases
from dfr.restart_drill import SCENE as FAR_SCENE
from dfr.restart_drill import deployment_with
from tests.api.conftest import login, make_settings, wait_ready

SCENE = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 1, "summary": "alarm"}
OTHER = {"latitude_deg": 38.2600, "longitude_deg": -104.6060, "priority": 1, "summary": "fire"}
DRONES = {"dfr-1", "dfr-2", "dfr-3"}


@contextmanager
def two_servers(tmp_path: Path, url: str) -> Iterator[tuple[TestClient, TestClient]]:
    """The first server (its drones simulated) ready, the second seeing them all."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    first = make_settings(tmp_path / "a", database=url, server_id="server-a")
    # The second simulates no drones: it links none while the first holds them all.
    second = make_settings(tmp_path / "b", database=url, server_id="server-b", simulate=False)
    with TestClient(server_app(first)) as a:
        wait_ready(a)
        with TestClient(server_app(second)) as b:
            until_seen_linked(b, login(b, "disp"), "server-a")
            yield a, b


def until_seen_linked(client: TestClient, headers: dict[str, str], holder: str) -> None:
    """Until `client`'s server sees every drone online and linked by `holder`."""
    deadline = time.monotonic() + 60
    while not all(
        s["drone"].get("linked_by") == holder and s["drone"]["online"]
        for s in client.get("/api/stations", headers=headers).json()
    ):
        assert time.monotonic() < deadline, f"{client.base_url} does not see {holder}'s drones"
        time.sleep(0.2)


def until_message(
    ws: WebSocketTestSession, matches: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    for _ in range(5000):  # telemetry arrives 4 times a second: minutes of messages
        message = ws.receive_json()
        if matches(message):
            return message
    raise AssertionError(f"no {what} on the console socket")


def drone_in(message: dict[str, Any], drone_id: str) -> dict[str, Any] | None:
    if message["type"] != "telemetry":
        return None
    return next((d for d in message["drones"] if d["id"] == drone_id), None)


def until_launched(
    client: TestClient, sortie_id: int, headers: dict[str, str], within_s: float = 120.0
) -> str:
    deadline = time.monotonic() + within_s
    while (state := client.get(f"/api/sorties/{sortie_id}", headers=headers).json()["state"]) in (
        "reserved",
        "awaiting_pilot",
    ):
        assert time.monotonic() < deadline, f"sortie {sortie_id} never launched"
        time.sleep(0.2)
    return str(state)


def test_a_console_on_either_server_sees_every_drone_and_every_call(tmp_path, postgres_url):
    with two_servers(tmp_path, postgres_url) as (a, b):
        health = b.get("/api/health").json()
        assert health["linked_elsewhere"] == dict.fromkeys(DRONES, "server-a")
        assert health["drones"] == {}

        pilot = login(b, "pilot")
        refused = b.post("/api/drones/dfr-1/commands", json={"command": "hold"}, headers=pilot)
        assert refused.status_code == 409
        assert "server-a" in refused.json()["detail"]

        token = login(b, "disp")["Authorization"].split()[1]
        with b.websocket_connect("/api/ws") as ws:
            ws.send_json({"type": "auth", "token": token})
            assert ws.receive_json()["type"] == "hello"
            seen = until_message(ws, lambda m: m["type"] == "telemetry", "telemetry")
            assert {d["id"] for d in seen["drones"]} == DRONES
            assert {d.get("linked_by") for d in seen["drones"]} == {"server-a"}

            disp_a = login(a, "disp")
            call = a.post("/api/calls", json=SCENE, headers=disp_a).json()
            until_message(
                ws,
                lambda m: m["type"] == "call" and m.get("call_id") == call["id"],
                "the call created on the first server",
            )
            sent = a.post(f"/api/calls/{call['id']}/dispatch", headers=disp_a)
            assert sent.status_code == 200, sent.text
            drone_id = sent.json()["sortie"]["drone_id"]
            until_message(
                ws,
                lambda m: (d := drone_in(m, drone_id)) is not None and d["in_air"],
                "the first server's drone in the air",
            )


def test_a_dispatch_through_the_server_without_the_drone_is_flown_by_the_one_with_it(
    tmp_path, postgres_url
):
    with two_servers(tmp_path, postgres_url) as (a, b):
        disp_b = login(b, "disp")
        call = b.post("/api/calls", json=SCENE, headers=disp_b).json()
        sent = b.post(f"/api/calls/{call['id']}/dispatch", headers=disp_b)
        assert sent.status_code == 200, sent.text
        sortie_id = sent.json()["sortie"]["id"]
        disp_a = login(a, "disp")
        assert until_launched(a, sortie_id, disp_a) in ("launching", "en_route", "on_scene")
        assert a.get(f"/api/sorties/{sortie_id}", headers=disp_a).json()["launched_by"] == "disp"


def cut_event_connections(url: str, seconds: float) -> int:
    """Terminate the servers' event connections (LISTEN and NOTIFY) as often as they come
    back, for `seconds`: what is notified meanwhile is lost. Returns how many were cut."""
    cut = 0
    deadline = time.monotonic() + seconds
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'dfr events'"
            ).fetchall()
            cut += len(rows)
            time.sleep(0.05)
    return cut


def test_a_launch_request_lost_on_the_way_is_sent_again(tmp_path, postgres_url):
    with two_servers(tmp_path, postgres_url) as (a, b):
        disp_b = login(b, "disp")
        call = b.post("/api/calls", json=SCENE, headers=disp_b).json()
        with ThreadPoolExecutor(1) as pool:
            cutting = pool.submit(cut_event_connections, postgres_url, 4.0)
            time.sleep(0.5)
            sent = b.post(f"/api/calls/{call['id']}/dispatch", headers=disp_b)
            assert cutting.result() > 0
        assert sent.status_code == 200, sent.text
        sortie_id = sent.json()["sortie"]["id"]
        disp_a = login(a, "disp")
        launched = until_launched(a, sortie_id, disp_a, within_s=30.0)
        assert launched in ("launching", "en_route", "on_scene")
        assert b.app.state.ops.launch_requests.sent >= 2  # the first was lost
        flights = [s for s in a.app.state.ops.board if s.record.id == sortie_id]
        assert len(flights) == 1


def test_one_drone_dispatched_through_both_servers_at_once_goes_to_one_call(tmp_path, postgres_url):
    with two_servers(tmp_path, postgres_url) as (a, b):
        heads = {id(a): login(a, "disp"), id(b): login(b, "disp")}
        calls = [
            a.post("/api/calls", json=SCENE, headers=heads[id(a)]).json(),
            b.post("/api/calls", json=OTHER, headers=heads[id(b)]).json(),
        ]

        def dispatch(pair: tuple[TestClient, dict[str, Any]]) -> httpx.Response:
            client, call = pair
            return client.post(
                f"/api/calls/{call['id']}/dispatch",
                json={"station_id": "hq"},
                headers=heads[id(client)],
            )

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(dispatch, [(a, calls[0]), (b, calls[1])]))
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200, 409], [r.text for r in answers]
        won = next(r for r in answers if r.status_code == 200).json()["sortie"]["id"]
        until_launched(a, won, heads[id(a)])
    with psycopg.connect(postgres_url) as conn:
        sorties = conn.execute("SELECT id FROM sorties WHERE station_id = 'hq'").fetchall()
    assert sorties == [(won,)]


async def cut_off(leases: LinkLeases) -> None:
    """The server's lease connection breaks and cannot come back (its database is
    unreachable from there): it renews no more."""
    leases._url = "postgresql://127.0.0.1:1/unreachable"
    if leases._conn is not None:
        await leases._conn.close()


def test_a_server_cut_off_from_the_database_lets_its_flight_go_to_the_other(tmp_path, postgres_url):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    ttl = {"link_lease_ttl_s": 4.0}
    first = make_settings(tmp_path / "a", database=postgres_url, server_id="server-a", **ttl)
    with TestClient(server_app(first)) as a:
        wait_ready(a)
        ops_a = a.app.state.ops
        # The second server reaches the same simulated drones.
        addresses = [s.drone.mavlink for s in ops_a.deployment.stations]
        toml = deployment_with(tmp_path / "deployment", addresses)
        second = make_settings(
            tmp_path / "b",
            database=postgres_url,
            server_id="server-b",
            simulate=False,
            deployment=toml,
            **ttl,
        )
        with TestClient(server_app(second)) as b:
            disp_a = login(a, "disp")
            call = a.post("/api/calls", json=FAR_SCENE, headers=disp_a).json()
            sent = a.post(
                f"/api/calls/{call['id']}/dispatch", json={"station_id": "hq"}, headers=disp_a
            )
            assert sent.status_code == 200, sent.text
            sortie_id, drone_id = sent.json()["sortie"]["id"], sent.json()["sortie"]["drone_id"]
            assert until_launched(a, sortie_id, disp_a) in ("launching", "en_route", "on_scene")

            assert a.portal is not None
            a.portal.call(cut_off, ops_a.peers.leases)
            pilot_b = login(b, "pilot")
            deadline = time.monotonic() + 120
            while (
                b.post(
                    f"/api/drones/{drone_id}/commands", json={"command": "hold"}, headers=pilot_b
                ).status_code
                != 200
            ):
                assert time.monotonic() < deadline, "the other server never took the flight"
                time.sleep(0.2)
            assert ops_a.board.for_station("hq") is None  # the first let it go
            returned = b.post(
                f"/api/drones/{drone_id}/commands", json={"command": "return"}, headers=pilot_b
            )
            assert returned.status_code == 200, returned.text
            disp_b = login(b, "disp")
            deadline = time.monotonic() + 180
            while (
                state := b.get(f"/api/sorties/{sortie_id}", headers=disp_b).json()["state"]
            ) not in (
                "docked",
                "landed",
                "fault",
            ):
                assert time.monotonic() < deadline, f"sortie {sortie_id} still {state}"
                time.sleep(0.5)
            assert state == "docked"


async def reserve_and_take_over(ops: Any, call_id: int) -> int:
    """A reservation made and not launched (its launch request lost with the server that
    was to launch it), then the drone taken over."""
    result = await ops.dispatcher.dispatch(call_id, "disp", "hq")
    ops.recovery.take_over("hq")
    return int(result.sortie.id)


def test_a_drone_taken_over_with_a_fresh_reservation_is_launched(tmp_path, postgres_url):
    settings = make_settings(tmp_path, database=postgres_url, server_id="server-a")
    with TestClient(server_app(settings)) as a:
        wait_ready(a)
        disp = login(a, "disp")
        call = a.post("/api/calls", json=SCENE, headers=disp).json()
        assert a.portal is not None
        sortie_id = a.portal.call(reserve_and_take_over, a.app.state.ops, call["id"])
        assert until_launched(a, sortie_id, disp) in ("launching", "en_route", "on_scene")


async def reserve_and_start_twice(ops: Any, call_id: int) -> list[str]:
    """A reservation whose launch is asked for twice at once (a repeated request, the
    recovery of a drone taken over); the audit of the sortie's launches."""
    result = await ops.dispatcher.dispatch(call_id, "disp", "hq")
    record = await ops.runner.store.get_sortie(result.sortie.id)
    call = await ops.runner.store.get_call(call_id)
    who = Principal("disp", Role.DISPATCHER)
    await asyncio.gather(
        ops.runner.start_reserved(record, call, who), ops.runner.start_reserved(record, call, who)
    )
    about = await ops.runner.store.audit_about(call_id, record.id)
    return [e.action for e in about if e.action == "sortie.launch"]


def test_a_reservation_asked_to_launch_twice_at_once_launches_once(tmp_path, postgres_url):
    settings = make_settings(tmp_path, database=postgres_url, server_id="server-a")
    with TestClient(server_app(settings)) as a:
        wait_ready(a)
        call = a.post("/api/calls", json=SCENE, headers=login(a, "disp")).json()
        assert a.portal is not None
        launches = a.portal.call(reserve_and_start_twice, a.app.state.ops, call["id"])
        assert launches == ["sortie.launch"]
