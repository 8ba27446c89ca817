"""Two servers on one PostgreSQL database (dfr.link_leases, dfr.event_relay): the first
links the drones, the second links none; a console on the second sees the first's
drones in its telemetry and flying, and a call created on the first; a pilot's command
on the second is refused naming the first."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from dfr.cli import server_app
from tests.api.conftest import login, make_settings, wait_ready

SCENE = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 1, "summary": "alarm"}


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


def test_a_console_on_either_server_sees_every_drone_and_every_call(tmp_path, postgres_url):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_settings(tmp_path / "a", database=postgres_url, server_id="server-a")
    # The second simulates no drones: it links none while the first holds them all.
    second = make_settings(
        tmp_path / "b", database=postgres_url, server_id="server-b", simulate=False
    )
    with TestClient(server_app(first)) as a:
        wait_ready(a)
        with TestClient(server_app(second)) as b:
            health = b.get("/api/health").json()
            deadline = time.monotonic() + 60
            while len(health["linked_elsewhere"]) < 3:
                assert time.monotonic() < deadline, health
                time.sleep(0.2)
                health = b.get("/api/health").json()
            assert set(health["linked_elsewhere"].values()) == {"server-a"}
            assert health["drones"] == {}

            pilot = login(b, "pilot")
            refused = b.post("/api/drones/dfr-1/commands", json={"command": "hold"}, headers=pilot)
            assert refused.status_code == 409
            assert "server-a" in refused.json()["detail"]

            token = login(b, "disp")["Authorization"].split()[1]
            with b.websocket_connect("/api/ws") as ws:
                ws.send_json({"type": "auth", "token": token})
                assert ws.receive_json()["type"] == "hello"
                seen = until_message(
                    ws,
                    lambda m: (
                        all(
                            d.get("linked_by") == "server-a" and d["online"]
                            for d in m.get("drones", [{}])
                        )
                        and m["type"] == "telemetry"
                    ),
                    "telemetry of the first server's drones",
                )
                assert {d["id"] for d in seen["drones"]} == {"dfr-1", "dfr-2", "dfr-3"}

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
