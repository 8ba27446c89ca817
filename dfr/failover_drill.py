"""The failover drill: two servers on one PostgreSQL database, and the one holding the
drones dies (kill -9) while a drone flies a call.

The built-in Pueblo deployment, its three drones simulated in a process of their own
(they fly on when a server dies), and two `dfr serve --no-sim --database
postgresql://…` processes with state directories of their own:

1. server A starts first and takes every drone's link lease; two stations are put in
   maintenance, so the call goes to headquarters' drone;
2. server B starts: it links no drone, and refuses a pilot's command, naming A;
3. a call is dispatched through A, and a second call is taken and left waiting;
   once the drone is en route, A is killed with SIGKILL;
4. on B, a pilot's hold is sent until it is accepted (B took the lease once A's
   expired, linked the drone, re-adopted the sortie), then return;
5. the drill waits until the drone is back on its dock, and reads every call
   through B.

It reports the seconds from the kill to the pilot's command being accepted on B and
to the drone docked, whether B re-adopted the sortie, and how many of the calls stored
before the kill B no longer has (target 0). `dfr bench failover` prints these figures;
tests/faults asserts them.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dfr.auth import write_users_file
from dfr.deployment import load_deployment
from dfr.loopback import LOOPBACK, free_tcp_port, free_udp_block
from dfr.restart_drill import (
    FLYING_STATION,
    PASSWORD,
    SCENE,
    USERS,
    WAITING,
    DrillConsole,
    console,
    deployment_with,
)
from dfr.server_process import ServerProcess, SimulatedDrones, session_members

SERVERS = ("server-a", "server-b")


@dataclass(frozen=True)
class FailoverResult:
    speed_factor: float
    lease_ttl_s: float
    #: B's answer to a pilot's command while A held the drone (409 naming A).
    refused_on_standby: str
    state_at_kill: str
    kill_to_command_s: float  # until B accepted a pilot's hold
    kill_to_docked_s: float  # until the drone, returned by B's pilot, was on its dock
    adopted: bool
    final_state: str
    calls_before_kill: int
    calls_lost: int  # stored before the kill, missing on B after it
    calls_changed: list[str]  # the calls whose status B reads differently, and how
    survivors_of_kill: int  # processes of the killed server still alive

    def as_json(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def run_failover(
    database_url: str,
    speed_factor: float = 8.0,
    lease_ttl_s: float = 5.0,
    timeout_s: float = 240.0,
) -> FailoverResult:
    """The drill on the built-in simulator, both servers on `database_url` (an empty
    PostgreSQL database, or one whose drones no other server holds)."""
    with tempfile.TemporaryDirectory(prefix="dfr-failover-drill-") as tmp:
        return _drill(Path(tmp), database_url, speed_factor, lease_ttl_s, timeout_s)


@dataclass(frozen=True)
class RaceResult:
    statuses: list[int]  # each server's answer to its dispatch, A's first
    sorties_for_the_drone: int  # in the store afterwards
    winner_launched: str  # the state the winning sortie reached (the holder launched it)


def run_race(database_url: str, speed_factor: float = 8.0, timeout_s: float = 240.0) -> RaceResult:
    """The same drone dispatched at once through two server processes (A links it),
    for two calls."""
    with (
        tempfile.TemporaryDirectory(prefix="dfr-race-") as tmp,
        _two_servers(Path(tmp), database_url, speed_factor, 5.0, timeout_s) as servers,
    ):
        _, _, on_a, on_b = servers
        on_b.until(lambda: _sees_every_drone(on_b), "drones seen on the second server")
        calls = [on_a.create(SCENE), on_b.create(WAITING)]
        with ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(
                    lambda pair: pair[0].dispatch_to(pair[1], FLYING_STATION),
                    [(on_a, calls[0]), (on_b, calls[1])],
                )
            )
        won = [r.json()["sortie"]["id"] for r in answers if r.status_code == 200]
        launched = on_a.wait_sortie(won[0], LAUNCHED) if len(won) == 1 else "none"
        drone = on_a.station(FLYING_STATION)["drone"]["id"]
        sorties = [s for s in on_a.sorties() if s["drone_id"] == drone]
    return RaceResult([r.status_code for r in answers], len(sorties), launched)


LAUNCHED = {"launching", "en_route", "on_scene", "returning", "docked", "landed", "fault"}


def _sees_every_drone(on_b: DrillConsole) -> bool:
    stations = on_b.http.get("/api/stations", headers=on_b.auth["admin"]).json()
    return all(s["drone"].get("linked_by") == SERVERS[0] for s in stations)


@contextmanager
def _two_servers(
    folder: Path, url: str, speed: float, ttl_s: float, timeout_s: float
) -> Iterator[tuple[ServerProcess, ServerProcess, DrillConsole, DrillConsole]]:
    """The simulated drones, server A started first (it takes every lease) and ready,
    all but headquarters' drone in maintenance, then server B; both signed in to."""
    stations = load_deployment().stations
    log = folder / "drill.log"
    with SimulatedDrones(stations, speed, free_udp_block(len(stations)), log) as sim:
        deployment = deployment_with(folder / "deployment", sim.addresses)
        users = folder / "users.toml"
        write_users_file(users, {name: (role, PASSWORD) for name, role in USERS.items()})
        servers = [_server(folder, name, deployment, users, url, ttl_s) for name in SERVERS]
        a, b = servers
        with a, b, console(a.base, timeout_s) as on_a, console(b.base, timeout_s) as on_b:
            a.start()
            on_a.ready()
            # Only headquarters' drone serves calls; B reads that as it starts.
            on_a.maintenance_except(FLYING_STATION)
            b.start()
            on_b.sign_in()
            yield a, b, on_a, on_b


def _drill(folder: Path, url: str, speed: float, ttl_s: float, timeout_s: float) -> FailoverResult:
    with _two_servers(folder, url, speed, ttl_s, timeout_s) as servers:
        a, _, on_a, on_b = servers
        first = on_a.dispatch(SCENE)
        sortie_id = first["sortie"]["id"]
        drone = first["sortie"]["drone_id"]
        waiting = on_a.http.post("/api/calls", json=WAITING, headers=on_a.auth["dispatcher"])
        waiting.raise_for_status()
        at_kill = on_a.wait_sortie(sortie_id, {"en_route"})
        refused = on_b.command(drone, "hold")
        calls_before = on_a.calls()
        killed_pid = a.pid
        a.kill()
        killed = time.monotonic()
        on_b.until_accepted(drone, "hold")
        command_s = time.monotonic() - killed
        survivors = len(session_members(killed_pid or 0))
        adopted = on_b.audited(sortie_id, lambda e: e["action"] == "sortie.adopt")
        on_b.until_accepted(drone, "return")
        final = on_b.wait_sortie(sortie_id, {"docked", "landed", "fault"})
        docked_s = time.monotonic() - killed
        calls_after = on_b.calls()
    return FailoverResult(
        speed_factor=speed,
        lease_ttl_s=ttl_s,
        refused_on_standby=f"{refused.status_code} {refused.json().get('detail')}",
        state_at_kill=at_kill,
        kill_to_command_s=command_s,
        kill_to_docked_s=docked_s,
        adopted=adopted,
        final_state=final,
        calls_before_kill=len(calls_before),
        calls_lost=sum(1 for call_id in calls_before if call_id not in calls_after),
        calls_changed=[
            f"call {i}: {status} -> {calls_after[i]}"
            for i, status in calls_before.items()
            if i in calls_after and calls_after[i] != status
        ],
        survivors_of_kill=survivors,
    )


def _server(
    folder: Path, name: str, deployment: Path, users: Path, url: str, ttl_s: float
) -> ServerProcess:
    port = free_tcp_port()
    env = {
        **os.environ,
        "DFR_USERS_FILE": str(users),
        "DFR_SERVER_ID": name,
        "DFR_LINK_LEASE_TTL_S": str(ttl_s),
    }
    args = ["--no-sim", "--deployment", str(deployment), "--state-dir", str(folder / name)]
    args += ["--port", str(port), "--database", url]
    return ServerProcess(args, env, f"http://{LOOPBACK}:{port}", folder / f"{name}.log")


def print_result(result: FailoverResult) -> None:
    r = result
    print(f"failover drill, simulator at {r.speed_factor:g}x, lease TTL {r.lease_ttl_s:g} s")
    print(f"  standby server, before the kill: pilot command -> {r.refused_on_standby}")
    print(f"  killed the drones' server with the drone {r.state_at_kill}")
    print(f"  kill -> pilot command accepted by the other server: {r.kill_to_command_s:.1f} s")
    print(f"  kill -> drone docked again (returned by that pilot): {r.kill_to_docked_s:.1f} s")
    print(f"  sortie re-adopted: {r.adopted}; final state: {r.final_state}")
    print(f"  calls lost: {r.calls_lost} of {r.calls_before_kill}; changed: {r.calls_changed}")
    print(f"  processes of the killed server left: {r.survivors_of_kill}")
