"""A flood of wrong-password logins and 10 MB bodies while three drones fly: the real
server (`dfr serve` with its simulated drones, in a process of its own) never marks a
drone offline, and every sortie carries on to its scene."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx

from dfr.auth import Role, write_users_file
from dfr.bench_abuse import built_in_server, flood_in_process
from tests import simulator

PASSWORD = "flood-test-password"
#: One call about 800 m from each station.
SCENES = {
    "hq": (38.2730, -104.6050),
    "bessemer": (38.2400, -104.6060),
    "eastside": (38.2680, -104.5580),
}


def test_floods_while_three_drones_fly_cost_no_drone_and_no_sortie(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    write_users_file(users, {"disp": (Role.DISPATCHER, PASSWORD)})
    with built_in_server(tmp_path, users, simulator.SERVER_SPEED_FACTOR) as server:
        server.start()
        with httpx.Client(base_url=server.base, timeout=30.0) as http:
            login = http.post("/api/login", json={"username": "disp", "password": PASSWORD})
            auth = {"Authorization": f"Bearer {login.json()['token']}"}
            _until(lambda: _all_ready(http, auth), "drones ready")
            sorties = []
            for station, (lat, lon) in SCENES.items():
                call = http.post(
                    "/api/calls",
                    json={"latitude_deg": lat, "longitude_deg": lon, "priority": 1},
                    headers=auth,
                ).json()
                sent = http.post(
                    f"/api/calls/{call['id']}/dispatch", json={"station_id": station}, headers=auth
                )
                assert sent.status_code == 200, sent.text
                sorties.append(sent.json()["sortie"]["id"])
            _until(lambda: _states(http, auth, sorties) == {"en_route"}, "all three en route")

            offline_seen: list[dict[str, bool]] = []
            stop = threading.Event()
            poller = threading.Thread(target=_poll, args=(server.base, offline_seen, stop))
            poller.start()
            try:
                answers = asyncio.run(_floods(server.base, seconds=6.0))
            finally:
                stop.set()
                poller.join()

            assert answers["_login_flood"][429] > 0, answers
            bodies = answers["_big_bodies"]
            assert sum(bodies.values()) > 0, answers
            assert not [code for code in bodies if 200 <= code < 300], answers  # none read
            assert not offline_seen, f"drones marked offline during the flood: {offline_seen}"
            _until(
                lambda: _states(http, auth, sorties) <= {"on_scene", "returning", "docked"},
                "all three at their scenes",
            )
            assert "fault" not in _states(http, auth, sorties)


async def _floods(base: str, seconds: float) -> dict[str, dict[int, int]]:
    loop = asyncio.get_running_loop()
    names = ("_login_flood", "_big_bodies")
    done = await asyncio.gather(
        *(loop.run_in_executor(None, flood_in_process, n, base, seconds) for n in names)
    )
    return dict(zip(names, done, strict=True))


def _poll(base: str, offline_seen: list[dict[str, bool]], stop: threading.Event) -> None:
    with httpx.Client(base_url=base, timeout=30.0) as http:
        while not stop.is_set():
            drones = http.get("/api/health").json()["drones"]
            if not all(drones.values()):
                offline_seen.append(drones)
            time.sleep(0.1)


def _all_ready(http: httpx.Client, auth: dict[str, str]) -> bool:
    stations = http.get("/api/stations", headers=auth).json()
    return all(s["drone"]["healthy"] and s["drone"]["docked"] for s in stations)


def _states(http: httpx.Client, auth: dict[str, str], sorties: list[int]) -> set[str]:
    return {http.get(f"/api/sorties/{i}", headers=auth).json()["state"] for i in sorties}


def _until(condition, what: str, timeout_s: float = 120.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout_s:g} s"
        time.sleep(0.25)
