"""`dfr bench metro`: a metro fusion center under load.

A generated deployment of three agencies side by side (`dfr.synthetic.
write_metro_deployment`) with 30 stations, their drones simulated in a process of their
own, `dfr serve --no-sim` on a PostgreSQL database, console WebSockets of every agency's
dispatchers and the fusion center, every drone sending an H.264 feed (720p30, relayed
and recorded as real drones' feeds are, never re-encoded) and its 50 Hz telemetry at
50 Hz of wall time, and calls arriving at random (a Poisson process at `calls_per_hour`
of vehicle time) anywhere in the metro area, each dispatched by its
agency's dispatcher to the drone the server recommends. It reports:

- dispatch: the round trip of `POST /api/calls/{id}/dispatch` (p50, p99), and how many
  calls flew at once, waited in the queue, or were refused;
- telemetry fan-out lag: from the server stamping a telemetry event to a console
  receiving it, over every console (p50, p99);
- CPU of each server over the replay: its own process, and with its `mavsdk_server`s;
- with two servers (the first links every drone, consoles and calls go to both), after
  the replay: kill -9 of the first, the seconds until the second accepts a pilot's
  command for a drone in the air, and the calls the second no longer has.

Wall time is what the replay takes; vehicle time runs `speed` times faster, so 200
calls an hour at x5 is a call every 3.6 s of wall time.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets

from dfr.auth import Role, write_users_file
from dfr.bench_evidence import write_h264_recording
from dfr.deployment import Deployment, load_deployment
from dfr.loopback import LOOPBACK, free_tcp_port, free_udp_block
from dfr.server_process import ServerProcess, SimulatedDrones, session_members
from dfr.synthetic import METRO_AGENCIES, write_metro_deployment
from missions.geo import GeoPoint

PASSWORD = "bench-metro-password"
ADMIN = "admin"
FUSION = "fusion"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FEED_S = 60  # the drones' H.264 feed (720p30), looped


@dataclass
class MetroResult:
    servers: int
    stations: int
    agencies: int
    consoles: int
    speed_factor: float
    replay_wall_s: float
    calls_per_hour: float
    calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # flying, queued, refused, ...
    sortie_states: dict[str, int] = field(default_factory=dict)  # after the replay
    dispatch_p50_ms: float | None = None
    dispatch_p99_ms: float | None = None
    #: The same by what the dispatch did: a drone launched from its dock ("launch"), a
    #: flying drone sent to the call ("retask": the answer waits for the vehicle to take
    #: the new mission), the call queued ("queued"): count, p50, p99 (ms).
    dispatch_by_kind: dict[str, dict[str, float | None]] = field(default_factory=dict)
    telemetry_events: int = 0
    telemetry_lag_p50_ms: float | None = None
    telemetry_lag_p99_ms: float | None = None
    consoles_connected: int = 0
    cpu_pct: list[float] = field(default_factory=list)  # each server's own process
    cpu_with_links_pct: list[float] = field(default_factory=list)  # and its mavsdk_servers
    ready_s: float = 0.0
    #: Two servers: kill -9 of the one linking the drones after the replay; seconds until
    #: the other accepts a pilot's command for a drone in the air, and the calls stored
    #: before the kill that the other no longer has.
    failover_s: float | None = None
    failover_drone: str | None = None
    calls_lost: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def users_of(agencies: tuple[str, ...]) -> dict[str, tuple[Role, str, str | None, tuple[str, ...]]]:
    """Each agency's dispatcher, a fusion center user seeing them all, and an admin."""
    users: dict[str, tuple[Role, str, str | None, tuple[str, ...]]] = {
        f"{a}-dispatcher": (Role.DISPATCHER, PASSWORD, a, ()) for a in agencies
    }
    users[FUSION] = (Role.RTCC, PASSWORD, None, agencies)
    users[ADMIN] = (Role.ADMIN, PASSWORD, None, ())
    return users


def console_users(agencies: tuple[str, ...], consoles: int) -> list[str]:
    """Who each console is: the fusion center and the agencies' dispatchers in turn."""
    who = [FUSION, *(f"{a}-dispatcher" for a in agencies)]
    return [who[i % len(who)] for i in range(consoles)]


def random_scene(deployment: Deployment, rng: random.Random) -> GeoPoint:
    """A point in the operational area, uniformly."""
    lats = [s.position.latitude_deg for s in deployment.stations]
    lons = [s.position.longitude_deg for s in deployment.stations]
    return GeoPoint(rng.uniform(min(lats), max(lats)), rng.uniform(min(lons), max(lons)))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def cpu_seconds(pid: int, with_session: bool) -> float:
    """User + system CPU seconds of `pid` (and of every process in its session)."""
    pids = session_members(pid) if with_session else [pid]
    total = 0
    for p in pids:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


async def every(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    """Every record of a paged list (`after_id`, `limit`)."""
    records: list[dict[str, Any]] = []
    while True:
        after = records[-1]["id"] if records else 0
        page = await client.get(path, params={"after_id": after, "limit": 500}, headers=headers)
        records += page.json()
        if len(page.json()) < 500:
            return records


class _Run:
    def __init__(self, deployment: Deployment, bases: list[str], result: MetroResult) -> None:
        self.deployment = deployment
        self.bases = bases
        self.result = result
        self.tokens: dict[str, dict[str, str]] = {}  # base URL -> user -> token
        self.call_ids: list[int] = []
        self.flying: list[tuple[int, str]] = []  # (sortie id, drone id) of launched calls
        self.lags_ms: list[float] = []
        self.dispatch_ms: list[float] = []
        self.dispatch_ms_by_kind: dict[str, list[float]] = {}
        self.outcomes: Counter[str] = Counter()
        self.measuring = False  # telemetry lag counts during the replay only

    def auth(self, user: str, base: str | None = None) -> dict[str, str]:
        """The user's bearer on `base` (each server signs its own sessions)."""
        return {"Authorization": f"Bearer {self.tokens[base or self.bases[0]][user]}"}

    async def sign_in(self, client: httpx.AsyncClient, users: list[str]) -> None:
        base = str(client.base_url).rstrip("/")
        for user in users:
            answer = await client.post("/api/login", json={"username": user, "password": PASSWORD})
            answer.raise_for_status()
            self.tokens.setdefault(base, {})[user] = answer.json()["token"]

    async def until_ready(self, client: httpx.AsyncClient, timeout_s: float) -> None:
        """Until every drone is ready for a dispatch (its dock set-up verified)."""
        deadline = time.monotonic() + timeout_s
        while True:
            ready = (await client.get("/api/health")).json().get("ready", {})
            if len(ready) == len(self.deployment.stations) and all(ready.values()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"metro bench: drones not ready within {timeout_s:g} s")
            await asyncio.sleep(1.0)

    async def console(self, base: str, user: str, stop: asyncio.Event) -> None:
        url = base.replace("http://", "ws://") + "/api/ws"
        async with websockets.connect(url, max_size=None) as socket:
            await socket.send(json.dumps({"type": "auth", "token": self.tokens[base][user]}))
            self.result.consoles_connected += 1
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(socket.recv(), timeout=1.0)
                except TimeoutError:
                    continue
                received = datetime.now(UTC)
                message = json.loads(raw)
                if self.measuring and message.get("type") == "telemetry" and "at" in message:
                    sent = datetime.fromisoformat(message["at"])
                    self.lags_ms.append((received - sent).total_seconds() * 1000.0)

    async def call(self, client: httpx.AsyncClient, scene: GeoPoint) -> str | None:
        """Create a call at `scene` and dispatch it as its agency's dispatcher; returns
        the drone that launched for it, if one did."""
        agency = self.deployment.agencies.agency_at(scene) or METRO_AGENCIES[0]
        who = self.auth(f"{agency}-dispatcher", str(client.base_url).rstrip("/"))
        body = {"latitude_deg": scene.latitude_deg, "longitude_deg": scene.longitude_deg}
        try:
            created = await client.post("/api/calls", json={**body, "priority": 1}, headers=who)
            if created.status_code != 201:
                self.outcomes[f"call {created.status_code}"] += 1
                return None
            call_id = created.json()["id"]
            self.call_ids.append(call_id)
            started = time.perf_counter()
            sent = await client.post(f"/api/calls/{call_id}/dispatch", headers=who)
        except httpx.HTTPError as error:
            self.outcomes[f"error {type(error).__name__}"] += 1
            return None
        took_ms = (time.perf_counter() - started) * 1000.0
        self.dispatch_ms.append(took_ms)
        drone: str | None = None
        if sent.status_code != 200:
            self.outcomes[f"refused {sent.status_code}"] += 1
            kind = "refused"
        elif sent.json().get("queued"):
            self.outcomes["queued"] += 1
            kind = "queued"
        else:
            self.outcomes["flying"] += 1
            sortie = sent.json()["sortie"]
            # A re-tasked drone keeps its sortie: one seen before flew another call.
            kind = "retask" if any(sortie["id"] == s for s, _ in self.flying) else "launch"
            self.flying.append((sortie["id"], sortie["drone_id"]))
            drone = str(sortie["drone_id"])
        self.dispatch_ms_by_kind.setdefault(kind, []).append(took_ms)
        return drone

    async def failover(
        self, killed: ServerProcess, other: str, rng: random.Random, timeout_s: float
    ) -> None:
        """One more call, flown by the server linking the drones (more, a few seconds
        apart, while every drone is busy); once its drone is on its way, kill -9 that
        server; time until `other` takes a pilot's command for the drone, then count the
        calls `other` no longer has."""
        async with httpx.AsyncClient(base_url=killed.base, timeout=60.0) as client:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                self.result.calls += 1
                if await self.call(client, random_scene(self.deployment, rng)) is not None:
                    break
                await asyncio.sleep(5.0)
        async with httpx.AsyncClient(base_url=other, timeout=30.0) as client:
            admin = self.auth(ADMIN, other)
            flying = None
            deadline = time.monotonic() + timeout_s
            while flying is None and time.monotonic() < deadline:
                for sortie_id, drone_id in reversed(self.flying):
                    sortie = (await client.get(f"/api/sorties/{sortie_id}", headers=admin)).json()
                    if sortie.get("state") in ("en_route", "on_scene"):
                        flying = drone_id
                        break
                else:
                    await asyncio.sleep(0.2)
            if flying is None:
                raise TimeoutError("metro bench: no drone in the air to fail over")
            station = next(s for s in self.deployment.stations if s.drone.id == flying)
            agency = self.deployment.agencies.of_station(station.id) or METRO_AGENCIES[0]
            who = self.auth(f"{agency}-dispatcher", other)
            await asyncio.to_thread(killed.kill)
            killed_at = time.monotonic()
            while True:
                answer = await client.post(
                    f"/api/drones/{flying}/commands", json={"command": "hold"}, headers=who
                )
                if answer.status_code == 200:
                    break
                if time.monotonic() - killed_at > timeout_s:
                    raise TimeoutError(f"metro bench: no failover within {timeout_s:g} s")
                await asyncio.sleep(0.2)
            self.result.failover_s = round(time.monotonic() - killed_at, 1)
            self.result.failover_drone = flying
            await client.post(
                f"/api/drones/{flying}/commands", json={"command": "return"}, headers=who
            )
            stored = {c["id"] for c in await every(client, "/api/calls", admin)}
            self.result.calls_lost = len(set(self.call_ids) - stored)

    async def sortie_states(self) -> dict[str, int]:
        """How many sorties are in each state now (a `fault` is a launch that failed)."""
        async with httpx.AsyncClient(base_url=self.bases[0], timeout=60.0) as client:
            sorties = await every(client, "/api/sorties", self.auth(ADMIN))
        return dict(Counter(s["state"] for s in sorties))

    async def replay(self, wall_s: float, calls_per_hour: float, speed: float, seed: int) -> None:
        rng = random.Random(seed)
        mean_wall_s = 3600.0 / calls_per_hour / speed
        pending: set[asyncio.Task[str | None]] = set()
        clients = [httpx.AsyncClient(base_url=b, timeout=60.0) for b in self.bases]
        try:
            end = time.monotonic() + wall_s
            n = 0
            while True:
                await asyncio.sleep(rng.expovariate(1.0 / mean_wall_s))
                if time.monotonic() >= end:
                    break
                client = clients[n % len(clients)]
                task = asyncio.create_task(self.call(client, random_scene(self.deployment, rng)))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
            await asyncio.gather(*pending)
            self.result.calls = n
        finally:
            for c in clients:
                await c.aclose()


async def _bench(
    folder: Path,
    database: str,
    servers: int,
    stations: int,
    replay_wall_s: float,
    speed: float,
    calls_per_hour: float,
    consoles: int,
    seed: int,
) -> MetroResult:
    port_base = free_udp_block(stations)
    addresses = [f"udpin://{LOOPBACK}:{port_base + i}" for i in range(stations)]
    # Every drone sends H.264, relayed and recorded as it comes, as real drones' feeds
    # are; the simulator's own camera would be drawn and encoded here, 30 times over.
    feed = await asyncio.to_thread(write_h264_recording, folder / "drone-feed.mkv", FEED_S)
    deployment_path = write_metro_deployment(folder / "deployment", addresses, video=str(feed))
    deployment = load_deployment(deployment_path)
    users = folder / "users.toml"
    write_users_file(users, users_of(METRO_AGENCIES))
    result = MetroResult(
        servers=servers,
        stations=stations,
        agencies=len(METRO_AGENCIES),
        consoles=consoles,
        speed_factor=speed,
        replay_wall_s=replay_wall_s,
        calls_per_hour=calls_per_hour,
    )
    log = folder / "metro.log"
    procs: list[ServerProcess] = []
    # The drones' 50 Hz streams at 50 Hz of wall time, as real drones send them (at the
    # simulator's default they would be `speed` times as many messages a second).
    with SimulatedDrones(deployment.stations, speed, port_base, log, fast_hz=50.0 / speed):
        try:
            started = time.monotonic()
            for i in range(servers):
                port = free_tcp_port()
                args = ["--no-sim", "--deployment", str(deployment_path)]
                args += ["--state-dir", str(folder / f"state-{i}"), "--port", str(port)]
                env = {
                    **os.environ,
                    "DFR_USERS_FILE": str(users),
                    "DFR_DATABASE": database,
                    "DFR_SERVER_ID": f"server-{i + 1}",
                    # The machine is saturated: wait for MAVLink answers as QGC does.
                    "DFR_MAVLINK_TIMEOUT_S": "1.5",
                }
                server = ServerProcess(args, env, f"http://{LOOPBACK}:{port}", log)
                procs.append(server)
                await asyncio.to_thread(server.start, 300.0)
            run = _Run(deployment, [p.base for p in procs], result)
            for server in procs:
                async with httpx.AsyncClient(base_url=server.base, timeout=60.0) as client:
                    await run.sign_in(client, list(users_of(METRO_AGENCIES)))
            async with httpx.AsyncClient(base_url=procs[0].base, timeout=60.0) as client:
                await run.until_ready(client, timeout_s=600.0)
            result.ready_s = round(time.monotonic() - started, 1)
            stop = asyncio.Event()
            who = console_users(METRO_AGENCIES, consoles)
            sockets = [
                asyncio.create_task(run.console(procs[i % servers].base, user, stop))
                for i, user in enumerate(who)
            ]
            await asyncio.sleep(2.0)
            pids = [p.pid or 0 for p in procs]
            cpu_at = [(cpu_seconds(p, False), cpu_seconds(p, True)) for p in pids]
            wall_at = time.monotonic()
            run.measuring = True
            await run.replay(replay_wall_s, calls_per_hour, speed, seed)
            wall = time.monotonic() - wall_at
            for p, (own, linked) in zip(pids, cpu_at, strict=True):
                result.cpu_pct.append(round(100.0 * (cpu_seconds(p, False) - own) / wall, 1))
                result.cpu_with_links_pct.append(
                    round(100.0 * (cpu_seconds(p, True) - linked) / wall, 1)
                )
            stop.set()
            await asyncio.gather(*sockets, return_exceptions=True)
            result.sortie_states = await run.sortie_states()
            if servers == 2:
                await run.failover(procs[0], procs[1].base, random.Random(seed), 120.0)
        finally:
            for server in procs:
                await asyncio.to_thread(server.stop)
    result.outcomes = dict(run.outcomes)
    result.dispatch_p50_ms = percentile(run.dispatch_ms, 0.50)
    result.dispatch_p99_ms = percentile(run.dispatch_ms, 0.99)
    result.dispatch_by_kind = {
        kind: {"calls": len(ms), "p50_ms": percentile(ms, 0.50), "p99_ms": percentile(ms, 0.99)}
        for kind, ms in sorted(run.dispatch_ms_by_kind.items())
    }
    result.telemetry_events = len(run.lags_ms)
    result.telemetry_lag_p50_ms = percentile(run.lags_ms, 0.50)
    result.telemetry_lag_p99_ms = percentile(run.lags_ms, 0.99)
    return result


def run(
    database: str,
    servers: int = 1,
    stations: int = 30,
    replay_wall_s: float = 300.0,
    speed: float = 5.0,
    calls_per_hour: float = 200.0,
    consoles: int = 50,
    seed: int = 1,
    keep_log: Path | None = None,
) -> MetroResult:
    with tempfile.TemporaryDirectory(prefix="dfr-bench-metro-") as tmp:
        try:
            return asyncio.run(
                _bench(
                    Path(tmp),
                    database,
                    servers,
                    stations,
                    replay_wall_s,
                    speed,
                    calls_per_hour,
                    consoles,
                    seed,
                )
            )
        finally:
            log = Path(tmp) / "metro.log"
            if keep_log is not None and log.exists():
                keep_log.write_bytes(log.read_bytes())


def main(args: Any) -> int:
    result = run(
        args.postgres,
        servers=args.servers,
        stations=args.stations,
        replay_wall_s=args.seconds,
        speed=args.speed,
        calls_per_hour=args.calls_per_hour,
        consoles=args.consoles,
        keep_log=args.log,
    )
    if args.json:
        print(json.dumps(result.as_json()))
        return 0
    r = result
    print(
        f"metro: {r.agencies} agencies, {r.stations} stations (simulated x{r.speed_factor:g}), "
        f"{r.servers} server(s) on PostgreSQL, {r.consoles_connected}/{r.consoles} consoles; "
        f"ready after {r.ready_s} s"
    )
    print(
        f"calls: {r.calls} in {r.replay_wall_s:g} s of wall time "
        f"({r.calls_per_hour:g} an hour of vehicle time): {r.outcomes}"
    )
    print(f"sorties after the replay, by state: {r.sortie_states}")
    print(f"dispatch: p50 {r.dispatch_p50_ms} ms, p99 {r.dispatch_p99_ms} ms")
    for kind, figures in r.dispatch_by_kind.items():
        print(
            f"  {kind}: {figures['calls']:g} calls, p50 {figures['p50_ms']} ms,"
            f" p99 {figures['p99_ms']} ms"
        )
    print(
        f"telemetry fan-out lag: p50 {r.telemetry_lag_p50_ms} ms, p99 {r.telemetry_lag_p99_ms} ms"
        f" ({r.telemetry_events} events received)"
    )
    for i, (own, linked) in enumerate(zip(r.cpu_pct, r.cpu_with_links_pct, strict=True)):
        print(f"server {i + 1}: CPU {own} % (with its mavsdk_servers {linked} %)")
    if r.servers == 2:
        print(
            f"failover: kill -9 of server 1 (linking every drone) -> server 2 accepted a"
            f" pilot's command for {r.failover_drone} in the air after {r.failover_s} s;"
            f" calls lost {r.calls_lost}"
        )
    return 0
