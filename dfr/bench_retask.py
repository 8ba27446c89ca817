"""`dfr bench retask`: wall time from the dispatch of an urgent call to a drone already
flying another one on its new mission, at speed factor 1.

The server's own operations service on the built-in simulator or PX4 SITL. Each round
dispatches a low-priority call 300 m from the first station, waits until its drone is
on scene (`--on-scene-s`, 60 by default, planned there), then creates a priority-1
call 400 m beyond it and dispatches it: the recommender ranks the flying drone first,
the store moves its sortie to the new call, and its fence and mission are replaced in
flight. The figure is wall time from just
before the dispatch request to the executor's "retargeted" (fence and mission uploaded
and verified, the new mission under way). Then the drone is sent home and docks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from dfr.auth import Principal, Role
from dfr.bench_launch import flying, percentile, until
from dfr.deployment import Deployment, load_deployment
from dfr.operations import Operations
from dfr.services import VehicleProvider, open_services
from dfr.settings import Settings
from dfr.store import NewCall
from missions.geo import WGS84_GEOD, GeoPoint
from missions.sortie import SortieState

_BENCH = Principal("bench", Role.DISPATCHER)
FIRST_CALL_M = 300.0
URGENT_CALL_M = 400.0


@dataclass(frozen=True, slots=True)
class Retask:
    round: int
    drone_id: str
    dispatch_to_under_way_wall_s: float
    eta_s: float


def _away(point: GeoPoint, bearing_deg: float, metres: float) -> GeoPoint:
    lon, lat, _ = WGS84_GEOD.fwd(point.longitude_deg, point.latitude_deg, bearing_deg, metres)
    return GeoPoint(lat, lon)


async def measure(
    deployment: Deployment, vehicles: VehicleProvider, rounds: int, on_scene_s: float
) -> tuple[Retask, ...]:
    out: list[Retask] = []
    with tempfile.TemporaryDirectory(prefix="dfr-bench-retask-") as tmp:
        users = Path(tmp) / "users.toml"
        users.write_text("# nobody logs in to a benchmark\n")
        settings = Settings(state_dir=Path(tmp), users_file=users, secret_key="bench")
        # PX4 SITL's battery drops to half within a minute of arming: with the deployment's
        # long time on scene a flying drone would not have the battery for a new call.
        defaults = deployment.defaults.model_copy(update={"on_scene_s": on_scene_s})
        planned = replace(deployment, launch_policy="immediate", defaults=defaults)
        async with (
            open_services(settings, planned, vehicles) as services,
            Operations.running(services, settings) as ops,
        ):
            station = services.deployment.stations[0]
            await ops.wait_docks_prepared(300.0)
            for n in range(1, rounds + 1):
                await until(lambda: ops.dock.setup(station.id), 300.0)
                scene = _away(station.position, 0.0, FIRST_CALL_M)
                first = await ops.calls.create_call(
                    NewCall(scene.latitude_deg, scene.longitude_deg, 3, "bench"), _BENCH.name
                )
                await ops.dispatch(first.id, _BENCH, station.id)
                executor = await flying(ops, station.id)
                await executor.wait_for_state(SortieState.ON_SCENE, timeout_s=300.0)
                urgent_at = _away(scene, 90.0, URGENT_CALL_M)
                urgent = await ops.calls.create_call(
                    NewCall(urgent_at.latitude_deg, urgent_at.longitude_deg, 1, "bench"),
                    _BENCH.name,
                )
                dispatched_at = datetime.now(UTC)
                result = await ops.dispatch(urgent.id, _BENCH)
                if result.retasked_from is None or result.candidate is None:
                    ranked = result.recommendation.as_json()
                    for c in ranked["candidates"]:
                        c.pop("route")
                    raise RuntimeError(
                        f"round {n}: the flying drone was not re-tasked; ranked: {ranked}"
                    )
                done = next(e for e in executor.sortie.events if e.kind == "retargeted")
                out.append(
                    Retask(
                        n,
                        station.drone.id,
                        round((done.wall_time - dispatched_at).total_seconds(), 3),
                        round(result.candidate.eta_s, 1),
                    )
                )
                await executor.return_home()
                await executor.wait_for_state(
                    SortieState.DOCKED, SortieState.LANDED, SortieState.FAULT, timeout_s=300.0
                )
                await until(lambda: ops.board.for_station(station.id) is None or None, 60.0)
    return tuple(out)


def main(args: argparse.Namespace, vehicles: VehicleProvider) -> int:
    deployment = load_deployment(args.deployment)
    label = "PX4 SITL" if args.px4 else "built-in simulator"
    retasks = asyncio.run(measure(deployment, vehicles, args.rounds, args.on_scene_s))
    walls = sorted(r.dispatch_to_under_way_wall_s for r in retasks)
    summary = {"retasks": len(walls), "p50_s": percentile(walls, 0.5), "max_s": walls[-1]}
    if args.json:
        print(json.dumps({"vehicles": label, "retasks": [asdict(r) for r in retasks], **summary}))
        return 0
    print(f"{deployment.name}, {label} at x1: urgent call dispatched → flying drone re-tasked")
    print(f"  {'round':>5} {'drone':<8} {'wall s':>7} {'ETA s':>6}")
    for r in retasks:
        print(f"  {r.round:>5} {r.drone_id:<8} {r.dispatch_to_under_way_wall_s:>7.3f} {r.eta_s:>6}")
    print(f"  p50 {summary['p50_s']} s, max {summary['max_s']} s over {len(walls)} re-tasks")
    return 0
