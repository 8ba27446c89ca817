"""`dfr bench launch`: wall time from a dispatch to the drone armed with its mission
started, every station dispatched at once, at speed factor 1.

The server's own operations service (store, dispatcher, dock preparation, flight
executors) on the built-in simulator or PX4 SITL: each round puts a call 300 m
north of every station, dispatches them all at the same moment, waits until each
vehicle accepted the mission start, then aborts the sorties and waits until every
drone is docked and prepared again. The figure is wall time, from just before the
dispatch requests to the executor's "mission started" (the vehicle's acceptance of
MAV_CMD_MISSION_START: armed, in MISSION mode).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from dfr.auth import Principal, Role
from dfr.deployment import Deployment, load_deployment
from dfr.flight_executor import FlightExecutor
from dfr.operations import Operations
from dfr.services import VehicleProvider, open_services
from dfr.settings import Settings
from dfr.store import NewCall
from missions.geo import WGS84_GEOD
from missions.sortie import SortieState

T = TypeVar("T")
_BENCH = Principal("bench", Role.DISPATCHER)
CALL_DISTANCE_M = 300.0


@dataclass(frozen=True, slots=True)
class Launch:
    round: int
    station_id: str
    dispatch_to_started_wall_s: float
    dispatch_to_armed_vehicle_s: float | None
    dock_setup_used: bool
    start_attempts: int


@dataclass(frozen=True, slots=True)
class LaunchBench:
    vehicles: str
    launches: tuple[Launch, ...]

    def summary(self) -> dict[str, float | int | None]:
        walls = sorted(x.dispatch_to_started_wall_s for x in self.launches)
        return {
            "launches": len(walls),
            "p50_s": percentile(walls, 0.5),
            "max_s": walls[-1] if walls else None,
            "dock_setup_used": sum(x.dock_setup_used for x in self.launches),
        }


async def measure(
    deployment: Deployment, vehicles: VehicleProvider, rounds: int, label: str
) -> LaunchBench:
    launches: list[Launch] = []
    with tempfile.TemporaryDirectory(prefix="dfr-bench-launch-") as tmp:
        users = Path(tmp) / "users.toml"
        users.write_text("# nobody logs in to a benchmark\n")
        settings = Settings(state_dir=Path(tmp), users_file=users, secret_key="bench")
        planned = replace(deployment, launch_policy="immediate")
        async with (
            open_services(settings, planned, vehicles) as services,
            Operations.running(services, settings) as ops,
        ):
            stations = services.deployment.stations
            await ops.wait_docks_prepared(300.0)
            for n in range(1, rounds + 1):
                await until(lambda: all(ops.dock.setup(s.id) for s in stations) or None, 300.0)
                calls = []
                for station in stations:
                    p = station.position
                    lon, lat, _ = WGS84_GEOD.fwd(
                        p.longitude_deg, p.latitude_deg, 0.0, CALL_DISTANCE_M
                    )
                    calls.append(
                        await ops.calls.create_call(NewCall(lat, lon, 1, "bench"), _BENCH.name)
                    )
                dispatched_at = datetime.now(UTC)
                await asyncio.gather(*(ops.dispatch(c.id, _BENCH) for c in calls))
                for station in stations:
                    launches.append(await _launched(ops, station.id, n, dispatched_at))
                for station in stations:
                    active = ops.board.for_station(station.id)
                    if active is not None and active.executor is not None:
                        await active.executor.wait_for_state(
                            SortieState.DOCKED, SortieState.FAULT, timeout_s=300.0
                        )
                try:
                    await until(lambda: (not ops.active_sorties) or None, 60.0)
                except TimeoutError:
                    left = [(a.record.id, a.executor and a.executor.state) for a in ops.board]
                    raise TimeoutError(f"sorties still on the board: {left}") from None
    return LaunchBench(label, tuple(launches))


async def _launched(ops: Operations, station_id: str, n: int, dispatched_at: datetime) -> Launch:
    """Round `n`'s launch at `station_id`, once its mission started; the sortie is
    then aborted (the drone returns to its dock)."""
    ex = await flying(ops, station_id)
    started = await until(
        lambda: next((x for x in ex.sortie.events if x.kind == "mission_started"), None),
        60.0,
    )
    launch = Launch(
        n,
        station_id,
        round((started.wall_time - dispatched_at).total_seconds(), 3),
        ex.sortie.timeline().dispatch_to_armed_s,
        not any(e.kind == "dock_setup_not_used" for e in ex.sortie.events),
        int(started.detail.split()[1]),
    )
    await ex.abort()
    return launch


async def flying(ops: Operations, station_id: str, timeout_s: float = 30.0) -> FlightExecutor:
    """The executor of the sortie that `station_id`'s drone flies, once it has one."""
    active = await until(lambda: ops.board.for_station(station_id), timeout_s)
    return await until(lambda: active.executor, timeout_s)


async def until(probe: Callable[[], T | None], timeout_s: float) -> T:
    """Poll `probe()` until it returns something truthy; raises TimeoutError."""
    async with asyncio.timeout(timeout_s):
        while not (value := probe()):  # noqa: ASYNC110 - plain state, nothing to await
            await asyncio.sleep(0.01)
    return value


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[max(0, math.ceil(q * len(values)) - 1)]


def main(args: argparse.Namespace, vehicles: VehicleProvider) -> int:
    deployment = load_deployment(args.deployment)
    label = "PX4 SITL" if args.px4 else "built-in simulator"
    result = asyncio.run(measure(deployment, vehicles, args.rounds, label))
    if args.json:
        print(
            json.dumps(
                {
                    "vehicles": label,
                    "launches": [asdict(x) for x in result.launches],
                    **result.summary(),
                }
            )
        )
        return 0
    print(f"{deployment.name}, {label} at x1: dispatch → armed with the mission started")
    print(
        f"  {'round':>5} {'station':<10} {'wall s':>7} {'vehicle s':>9} {'starts':>6}  dock set-up"
    )
    for x in result.launches:
        v = x.dispatch_to_armed_vehicle_s
        armed = "-" if v is None else f"{v:.2f}"
        print(
            f"  {x.round:>5} {x.station_id:<10} {x.dispatch_to_started_wall_s:>7.3f} {armed:>9}"
            f" {x.start_attempts:>6}  {'used' if x.dock_setup_used else 'not used'}"
        )
    s = result.summary()
    print(
        f"  p50 {s['p50_s']} s, max {s['max_s']} s over {s['launches']} launches"
        " (target: under 0.5 s)"
    )
    return 0
