"""The restart drill: the server dies (kill -9) while a drone flies, and starts again.

The built-in Pueblo deployment, its three drones simulated in a process of their
own (they fly on when the server dies, as real drones do), and `dfr serve
--no-sim` on a fresh state directory:

1. two stations are put in maintenance, so a second call has to wait in the queue;
2. a call is dispatched to the third station's drone; once it is en route the
   second call is dispatched and queued;
3. the server is killed with SIGKILL and started again on the same state;
4. a pilot's hold is sent until it is accepted, then return;
5. the drill waits until the drone is back on its dock and the queued call has
   been given to it.

It reports the seconds from the restart to the pilot's command being accepted
and to the queued call being served (the drone available again), what the
re-adopted sortie looked like, and whether any process of the killed server
outlived it. `dfr bench abuse` prints these figures; tests/faults asserts them.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from dfr.auth import Role, write_users_file
from dfr.deployment import builtin_deployment_path, load_deployment
from dfr.loopback import LOOPBACK, free_tcp_port, free_udp_block
from dfr.server_process import ServerProcess, SimulatedDrones, session_members

PASSWORD = "drill-password"
USERS = {"dispatcher": Role.DISPATCHER, "pilot": Role.PILOT, "admin": Role.ADMIN}
FLYING_STATION = "hq"
#: 1.2 km north-east of headquarters: long enough a flight to crash the server on the way.
SCENE = {"latitude_deg": 38.2740, "longitude_deg": -104.5990, "priority": 1, "summary": "drill"}
WAITING = {"latitude_deg": 38.2600, "longitude_deg": -104.6060, "priority": 2, "summary": "queued"}


@dataclass(frozen=True)
class DrillResult:
    speed_factor: float
    down_s: float  # how long the server stayed dead
    restart_to_healthy_s: float
    restart_to_command_s: float  # until a pilot's hold was accepted
    restart_to_available_s: float  # until the drone, landed, took the queued call
    state_at_kill: str
    adopted: bool
    interrupted_recording_saved: bool  # the video the crash cut short: hashed, audited
    final_state: str
    queued_call_served: bool
    survivors_of_kill: int  # processes of the killed server still alive

    def as_json(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def run_drill(
    speed_factor: float = 8.0, down_s: float = 2.0, timeout_s: float = 240.0, px4: bool = False
) -> DrillResult:
    """The drill on the built-in simulator, or with `px4` on PX4 SITL (DFR_PX4_DIR)."""
    with tempfile.TemporaryDirectory(prefix="dfr-restart-drill-") as tmp:
        return _drill(Path(tmp), speed_factor, down_s, timeout_s, px4)


def _drill(folder: Path, speed: float, down_s: float, timeout_s: float, px4: bool) -> DrillResult:
    stations = load_deployment().stations
    log = folder / "drill.log"
    ports = free_udp_block(len(stations))
    with SimulatedDrones(stations, speed, ports, log, px4=px4) as sim:
        deployment = deployment_with(folder / "deployment", sim.addresses)
        users = folder / "users.toml"
        write_users_file(users, {name: (role, PASSWORD) for name, role in USERS.items()})
        port = free_tcp_port()
        env = {**os.environ, "DFR_USERS_FILE": str(users)}
        args = ["--no-sim", "--deployment", str(deployment), "--state-dir", str(folder / "state")]
        args += ["--port", str(port)]
        base = f"http://{LOOPBACK}:{port}"
        with ServerProcess(args, env, base, log) as server, console(base, timeout_s) as c:
            server.start()
            c.ready()
            c.maintenance_except(FLYING_STATION)
            first = c.dispatch(SCENE)
            sortie_id = first["sortie"]["id"]
            drone = first["sortie"]["drone_id"]
            at_kill = c.wait_sortie(sortie_id, {"en_route"})
            queued = c.dispatch(WAITING)
            assert queued["queued"], "the second call was not queued"
            killed_pid = server.pid
            server.kill()
            time.sleep(down_s)
            survivors = len(session_members(killed_pid or 0))
            restarted = time.monotonic()
            healthy_s = server.start()
            # The pilot's session outlives the restart: no new sign-in.
            c.until_accepted(drone, "hold")
            command_s = time.monotonic() - restarted
            adopted = c.audited(sortie_id, lambda e: e["action"] == "sortie.adopt")
            interrupted = c.audited(
                sortie_id,
                lambda e: e["action"] == "recording.saved" and e["details"].get("interrupted"),
            )
            c.until_accepted(drone, "return")
            final = c.wait_sortie(sortie_id, {"docked", "landed", "fault"})
            served = c.wait_call(queued["call"]["id"], "dispatched")
            available_s = time.monotonic() - restarted
    return DrillResult(
        speed_factor=speed,
        down_s=down_s,
        restart_to_healthy_s=healthy_s,
        restart_to_command_s=command_s,
        restart_to_available_s=available_s,
        state_at_kill=at_kill,
        adopted=adopted,
        interrupted_recording_saved=interrupted,
        final_state=final,
        queued_call_served=served,
        survivors_of_kill=survivors,
    )


def deployment_with(folder: Path, addresses: list[str]) -> Path:
    """Pueblo, its drones at `addresses`, flying on through the restart: a link-loss
    timeout longer than the drill's outage, whatever its speed factor."""
    source = builtin_deployment_path()
    shutil.copytree(source.parent, folder)
    toml = folder / source.name
    text = toml.read_text()
    drones = iter(addresses)
    text = re.sub(r'^mavlink = ".*"$', lambda _: f'mavlink = "{next(drones)}"', text, flags=re.M)
    text = re.sub(r"^link_loss_timeout_s = \d+", "link_loss_timeout_s = 300", text, flags=re.M)
    toml.write_text(text)
    return toml


class DrillConsole:
    """The three users a drill needs, over one HTTP client to one server."""

    def __init__(self, client: httpx.Client, timeout_s: float) -> None:
        self.http = client
        self.timeout_s = timeout_s
        self.auth: dict[str, dict[str, str]] = {}

    def sign_in(self) -> None:
        for name in USERS:
            answer = self.http.post("/api/login", json={"username": name, "password": PASSWORD})
            answer.raise_for_status()
            self.auth[name] = {"Authorization": f"Bearer {answer.json()['token']}"}

    def ready(self) -> None:
        """Signed in, every drone docked and passing its checks."""
        self.sign_in()
        self.until(
            lambda: all(
                s["drone"]["healthy"] and s["drone"]["docked"]
                for s in self.http.get("/api/stations", headers=self.auth["admin"]).json()
            ),
            "drones ready",
        )

    def maintenance_except(self, station_id: str) -> None:
        for s in self.http.get("/api/stations", headers=self.auth["admin"]).json():
            if s["id"] != station_id:
                self.http.post(
                    f"/api/stations/{s['id']}/maintenance",
                    json={"on": True},
                    headers=self.auth["admin"],
                ).raise_for_status()

    def create(self, call: dict[str, Any]) -> dict[str, Any]:
        created = self.http.post("/api/calls", json=call, headers=self.auth["dispatcher"])
        created.raise_for_status()
        return dict(created.json())

    def dispatch_to(self, call: dict[str, Any], station_id: str) -> httpx.Response:
        """The call dispatched to one station, as answered."""
        return self.http.post(
            f"/api/calls/{call['id']}/dispatch",
            json={"station_id": station_id},
            headers=self.auth["dispatcher"],
        )

    def station(self, station_id: str) -> dict[str, Any]:
        stations = self.http.get("/api/stations", headers=self.auth["admin"]).json()
        return dict(next(s for s in stations if s["id"] == station_id))

    def sorties(self) -> list[dict[str, Any]]:
        answer = self.http.get("/api/sorties", headers=self.auth["dispatcher"])
        answer.raise_for_status()
        return list(answer.json())

    def dispatch(self, call: dict[str, Any]) -> dict[str, Any]:
        who = self.auth["dispatcher"]
        created = self.http.post("/api/calls", json=call, headers=who)
        created.raise_for_status()
        sent = self.http.post(f"/api/calls/{created.json()['id']}/dispatch", headers=who)
        sent.raise_for_status()
        return dict(sent.json())

    def sortie(self, sortie_id: int) -> dict[str, Any]:
        answer = self.http.get(f"/api/sorties/{sortie_id}", headers=self.auth["dispatcher"])
        answer.raise_for_status()
        return dict(answer.json())

    def wait_sortie(self, sortie_id: int, states: set[str]) -> str:
        self.until(lambda: self.sortie(sortie_id)["state"] in states, f"sortie in {states}")
        return str(self.sortie(sortie_id)["state"])

    def wait_call(self, call_id: int, status: str) -> bool:
        def reached() -> bool:
            answer = self.http.get(f"/api/calls/{call_id}", headers=self.auth["dispatcher"])
            return bool(answer.json()["status"] == status)

        try:
            self.until(reached, f"call {call_id} {status}")
        except TimeoutError as exc:
            why = self.http.get(
                f"/api/calls/{call_id}/recommendation", headers=self.auth["dispatcher"]
            ).json()
            raise TimeoutError(f"{exc}; excluded: {why.get('excluded')}") from None
        return True

    def calls(self) -> dict[int, str]:
        """Every call in the store: id → status."""
        answer = self.http.get("/api/calls", headers=self.auth["dispatcher"])
        answer.raise_for_status()
        return {int(c["id"]): str(c["status"]) for c in answer.json()}

    def command(self, drone_id: str, command: str) -> httpx.Response:
        """A pilot's command, as answered."""
        return self.http.post(
            f"/api/drones/{drone_id}/commands",
            json={"command": command},
            headers=self.auth["pilot"],
        )

    def until_accepted(self, drone_id: str, command: str) -> None:
        def accepted() -> bool:
            return self.command(drone_id, command).status_code == 200

        self.until(accepted, f"{command} accepted", every_s=0.2)

    def audited(self, sortie_id: int, matches: Callable[[dict[str, Any]], Any]) -> bool:
        """Whether the audit log has an entry about the sortie that `matches`."""
        entries = self.http.get("/api/audit", headers=self.auth["admin"]).json()
        return any(e["subject"] == f"sortie:{sortie_id}" and matches(e) for e in entries)

    def until(self, condition: Any, what: str, every_s: float = 0.25) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"drill: no {what} within {self.timeout_s:g} s")
            time.sleep(every_s)


@contextmanager
def console(base: str, timeout_s: float) -> Iterator[DrillConsole]:
    with httpx.Client(base_url=base, timeout=30.0) as http:
        yield DrillConsole(http, timeout_s)
