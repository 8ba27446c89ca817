"""`dfr bench abuse`: does a flood of logins or of huge bodies blind the dispatcher?

Starts the real server (`dfr serve`, the built-in Pueblo deployment with simulated
drones, a fresh state directory) on loopback, then, in one run and with every loop
bounded in count and time:

1. quiet;
2. huge bodies: 4 clients posting 10 MB bodies to /api/login and the CAD webhook;
3. login flood: 20 clients sending wrong passwords as fast as they are answered.

In every phase /api/health is polled at 20 Hz and a dispatcher creates a call each
second and asks for its recommendation; the floods run in a process of their own.

It prints /api/health p50/p99 in each phase, how many drones the server reported
offline at any poll (must be 0), how many calls got no candidate (must be 0), and
what the flood's requests were answered. Then the restart drill
(`dfr.restart_drill`): a server killed with SIGKILL while a drone flies, started
again; it prints the seconds from the restart to a pilot's command being accepted
and to the drone taking the next call after landing.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from dfr.auth import Role, write_users_file
from dfr.loopback import LOOPBACK, free_tcp_port, free_udp_block
from dfr.restart_drill import run_drill
from dfr.server_process import ServerProcess

PASSWORD = "bench-password"
HEALTH_HZ = 20.0
BIG_BODY_BYTES = 10 * 1024 * 1024
SCENE = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 1, "summary": "bench"}


@dataclass
class Phase:
    name: str
    health_ms: list[float] = field(default_factory=list)
    health_errors: int = 0
    drones_offline_max: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    calls_without_candidates: int = 0
    calls: int = 0
    exclusions: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        ms = sorted(self.health_ms)
        return {
            "phase": self.name,
            "health_polls": len(ms),
            "health_p50_ms": _pct(ms, 0.50),
            "health_p99_ms": _pct(ms, 0.99),
            "health_max_ms": round(ms[-1], 1) if ms else None,
            "health_errors": self.health_errors,
            "drones_offline_max": self.drones_offline_max,
            "calls": self.calls,
            "calls_without_candidates": self.calls_without_candidates,
            "exclusions": dict(self.exclusions),
            "flood_answers": {str(k): v for k, v in sorted(self.answers.items())},
        }


def run(seconds_per_phase: float = 10.0) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="dfr-bench-abuse-") as tmp:
        state = Path(tmp)
        users = state / "users.toml"
        write_users_file(users, {"dispatcher": (Role.DISPATCHER, PASSWORD)})
        with built_in_server(state, users) as server:
            server.start()
            return asyncio.run(_phases(server.base, seconds_per_phase))


async def _phases(base: str, seconds: float) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
        me = {"username": "dispatcher", "password": PASSWORD}
        login = await client.post("/api/login", json=me)
        login.raise_for_status()
        auth = {"Authorization": f"Bearer {login.json()['token']}"}
        await _until_drones_ready(client, auth)
        # Bodies before the login flood: after it this address is throttled, and a
        # throttled login is refused before its body is read at all.
        phases = [Phase("quiet"), Phase("10 MB bodies"), Phase("login flood")]
        floods = [None, _big_bodies, _login_flood]
        for phase, flood in zip(phases, floods, strict=True):
            # The flood runs in a process of its own: on this process's event loop it
            # would delay the health polls it is meant to be measured against.
            flooding = None
            if flood is not None:
                flooding = asyncio.get_running_loop().run_in_executor(
                    None, flood_in_process, flood.__name__, base, seconds
                )
            stop = asyncio.Event()
            async with asyncio.TaskGroup() as group:
                group.create_task(_poll_health(client, phase, stop))
                group.create_task(_dispatcher_calls(client, auth, phase, stop))
                await asyncio.sleep(seconds)
                stop.set()
            if flooding is not None:
                phase.answers.update(await flooding)
        return [p.as_json() for p in phases]


def flood_in_process(name: str, base: str, seconds: float) -> Counter[int]:
    """Run a flood ("_login_flood" or "_big_bodies") from a process of its own."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_flood, (name, base, seconds))


def _flood(name: str, base: str, seconds: float) -> Counter[int]:
    """Run the named flood against `base` for `seconds`; its answers by status code."""
    flood = {"_login_flood": _login_flood, "_big_bodies": _big_bodies}[name]
    clients = 20 if flood is _login_flood else 4
    phase = Phase(name)

    async def main() -> None:
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            for i in range(clients):
                group.create_task(flood(base, phase, stop, i))
            await asyncio.sleep(seconds)
            stop.set()

    asyncio.run(main())
    return phase.answers


async def _until_drones_ready(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """Until every drone has been docked and passed its preflight checks for 5 s running
    (after boot PX4's estimator settles for a few seconds)."""
    ready_since: float | None = None
    async with asyncio.timeout(120.0):
        while True:
            stations = (await client.get("/api/stations", headers=auth)).json()
            if all(s["drone"]["healthy"] and s["drone"]["docked"] for s in stations):
                ready_since = ready_since or time.monotonic()
                if time.monotonic() - ready_since >= 5.0:
                    return
            else:
                ready_since = None
            await asyncio.sleep(0.5)


async def _poll_health(client: httpx.AsyncClient, phase: Phase, stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            response = await client.get("/api/health")
            phase.health_ms.append(1000 * (time.perf_counter() - started))
            drones = response.json().get("drones", {})
            offline = sum(1 for up in drones.values() if not up)
            phase.drones_offline_max = max(phase.drones_offline_max, offline)
        except httpx.HTTPError:
            phase.health_errors += 1
        await asyncio.sleep(1.0 / HEALTH_HZ)


async def _dispatcher_calls(
    client: httpx.AsyncClient, auth: dict[str, str], phase: Phase, stop: asyncio.Event
) -> None:
    """A dispatcher at work during the flood: a call every second, and its ranking."""
    while not stop.is_set():
        call = await client.post("/api/calls", json=SCENE, headers=auth)
        if call.status_code == 201:
            rec = await client.get(f"/api/calls/{call.json()['id']}/recommendation", headers=auth)
            phase.calls += 1
            if not rec.json().get("candidates"):
                phase.calls_without_candidates += 1
                phase.exclusions.update(e["kind"] for e in rec.json().get("excluded", []))
            await client.post(f"/api/calls/{call.json()['id']}/close", headers=auth)
        await asyncio.sleep(1.0)


async def _login_flood(base: str, phase: Phase, stop: asyncio.Event, i: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
        while not stop.is_set():
            wrong = {"username": f"guess{i % 3}", "password": f"wrong-{time.monotonic()}"}
            response = await client.post("/api/login", json=wrong)
            phase.answers[response.status_code] += 1


async def _big_bodies(base: str, phase: Phase, stop: asyncio.Event, i: int) -> None:
    body = b'{"username": "' + b"x" * BIG_BODY_BYTES + b'", "password": "y"}'
    path = "/api/login" if i % 2 == 0 else "/api/webhooks/cad"
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
        while not stop.is_set():
            try:
                response = await client.post(
                    path, content=body, headers={"Content-Type": "application/json"}
                )
                phase.answers[response.status_code] += 1
            except httpx.HTTPError:
                phase.answers[0] += 1  # the server closed the connection mid-body
            await asyncio.sleep(0)


def built_in_server(state: Path, users: Path, speed_factor: float = 1.0) -> ServerProcess:
    """`dfr serve` with the built-in Pueblo deployment and its simulated drones, on a
    free loopback port."""
    env = {**os.environ, "DFR_USERS_FILE": str(users), "DFR_SIM_PORT_BASE": str(free_udp_block(3))}
    port = free_tcp_port()
    args = ["--state-dir", str(state), "--port", str(port), "--speed", str(speed_factor)]
    return ServerProcess(args, env, f"http://{LOOPBACK}:{port}", state / "serve.log")


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def main(args: Any) -> int:
    phases = run(args.seconds)
    drill = run_drill(speed_factor=args.restart_speed).as_json()
    if args.json:
        print(json.dumps({"phases": phases, "restart": drill}))
        return 0
    for p in phases:
        print(
            f"{p['phase']:<13} health p50 {p['health_p50_ms']} ms, p99 {p['health_p99_ms']} ms "
            f"({p['health_polls']} polls, {p['health_errors']} failed); drones offline "
            f"{p['drones_offline_max']}; calls without candidates {p['calls_without_candidates']}"
            f"/{p['calls']}; flood answered {p['flood_answers'] or '-'}"
        )
    print(
        f"restart      kill -9 mid-sortie, down {drill['down_s']} s: healthy after"
        f" {drill['restart_to_healthy_s']} s, pilot command accepted after"
        f" {drill['restart_to_command_s']} s, drone landed and on the next call after"
        f" {drill['restart_to_available_s']} s (simulator x{drill['speed_factor']}); sortie"
        f" re-adopted {drill['adopted']}, ended {drill['final_state']}; processes of the"
        f" killed server left {drill['survivors_of_kill']}"
    )
    return 0
