"""`dfr bench autolaunch`: wall time from a gunshot alert received to the drone armed with
its mission started, launched by a policy with no click, at speed factor 1.

The real server (`create_app`, passed in by the composition root) runs under uvicorn on
127.0.0.1 with its own vehicles (the built-in simulator, or PX4 SITL) and a fresh state
directory. The deployment keeps its first immediate policy that takes gunshots, with its
hours left out so the figure does not depend on the time of day (a deployment without one
gets a policy taking every gunshot of confidence 0.8 and 2 rounds or more). Each round, once
every drone is docked with its dock set-up verified, a sensor POSTs one alert 300 m north of
a station inside the policy's zone to `/api/webhooks/gunshot` over a real TCP connection;
the figure is wall time from just before the request to the executor's "mission started"
(the vehicle's acceptance of MAV_CMD_MISSION_START: armed, in MISSION mode). The sortie is
then aborted on its dock and the next round waits for the drone to be ready again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from dfr.bench_launch import percentile, until
from dfr.deployment import Deployment, load_deployment
from dfr.launch_policies import LaunchMode, LaunchPolicies, LaunchPolicy
from dfr.loopback import LOOPBACK, free_tcp_port
from dfr.operations import Operations
from dfr.settings import Settings
from missions.geo import WGS84_GEOD, GeoPoint
from missions.profile import Station
from missions.sortie import SortieState

AppFactory = Callable[[Settings, Deployment], Any]
"""Builds the server app (an ASGI app whose `state.ops` is its operations service)."""

WEBHOOK_TOKEN = "bench-autolaunch"
ALERT_DISTANCE_M = 300.0
TARGET_S = 2.0


@dataclass(frozen=True, slots=True)
class AutoLaunch:
    round: int
    station_id: str
    policy: str
    launched_by: str
    alert_answered_wall_s: float  # the sensor's POST answered (the call stored, the drone sent)
    alert_to_started_wall_s: float  # alert POSTed → mission started


@dataclass(frozen=True, slots=True)
class AutoLaunchBench:
    vehicles: str
    policy: str
    launches: tuple[AutoLaunch, ...]

    def summary(self) -> dict[str, float | int | None]:
        walls = sorted(x.alert_to_started_wall_s for x in self.launches)
        answers = sorted(x.alert_answered_wall_s for x in self.launches)
        return {
            "launches": len(walls),
            "p50_s": percentile(walls, 0.5),
            "max_s": walls[-1] if walls else None,
            "answered_p50_s": percentile(answers, 0.5),
            "target_s": TARGET_S,
        }


def bench_policy(deployment: Deployment) -> LaunchPolicy:
    """The deployment's first immediate gunshot policy, any hour; else a plain one."""
    for policy in deployment.launch_policies.policies:
        if policy.mode is LaunchMode.IMMEDIATE and "gunshot" in policy.sources:
            return replace(policy, hours=None)
    return LaunchPolicy("bench-gunshot", frozenset({"gunshot"}), min_confidence=0.8, min_rounds=2)


def alert_point(policy: LaunchPolicy, stations: tuple[Station, ...]) -> tuple[Station, GeoPoint]:
    """A scene 300 m north of the first station where that is inside the policy's zone."""
    for station in stations:
        p = station.position
        lon, lat, _ = WGS84_GEOD.fwd(p.longitude_deg, p.latitude_deg, 0.0, ALERT_DISTANCE_M)
        scene = GeoPoint(lat, lon)
        if policy.area is None or policy.area.contains(scene):
            return station, scene
    raise ValueError(f"policy {policy.name}: no station has a scene 300 m north inside its zone")


async def measure(
    deployment: Deployment, make_app: AppFactory, rounds: int, label: str
) -> AutoLaunchBench:
    policy = bench_policy(deployment)
    planned = replace(
        deployment,
        launch_policy="immediate",
        launch_policies=LaunchPolicies((policy,), 1, deployment.launch_policies.time_zone),
    )
    station, scene = alert_point(policy, planned.stations)
    launches: list[AutoLaunch] = []
    with tempfile.TemporaryDirectory(prefix="dfr-bench-autolaunch-") as tmp:
        users = Path(tmp) / "users.toml"
        users.write_text("# nobody logs in to a benchmark\n")
        port = free_tcp_port()
        settings = Settings(
            state_dir=Path(tmp),
            users_file=users,
            secret_key="bench",
            host=LOOPBACK,
            port=port,
            cad_webhook_token=WEBHOOK_TOKEN,
        )
        app = make_app(settings, planned)
        server = uvicorn.Server(
            uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning", lifespan="on")
        )
        serving = asyncio.create_task(server.serve(), name="uvicorn")
        try:
            await until(lambda: server.started or serving.done() or None, 300.0)
            if serving.done():
                raise RuntimeError("the server did not start") from serving.exception()
            ops: Operations = app.state.ops
            await ops.wait_docks_prepared(300.0)
            with httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=30.0) as sensor:
                for n in range(1, rounds + 1):
                    launches.append(await _round(n, ops, sensor, station, scene))
        finally:
            server.should_exit = True
            await serving
    return AutoLaunchBench(label, policy.name, tuple(launches))


async def _round(
    n: int, ops: Operations, sensor: httpx.Client, station: Station, scene: GeoPoint
) -> AutoLaunch:
    stations = ops.deployment.stations
    await until(
        lambda: (not ops.active_sorties and all(ops.dock.setup(s.id) for s in stations)) or None,
        300.0,
    )
    alert = {
        "alert_id": f"bench-{n}-{datetime.now(UTC).timestamp():.0f}",
        "latitude": scene.latitude_deg,
        "longitude": scene.longitude_deg,
        "rounds": 4,
        "confidence": 0.95,
    }
    posted_at = datetime.now(UTC)
    answer = await asyncio.to_thread(
        sensor.post, "/api/webhooks/gunshot", json=alert, headers={"X-DFR-Token": WEBHOOK_TOKEN}
    )
    answered_s = (datetime.now(UTC) - posted_at).total_seconds()
    answer.raise_for_status()
    call = answer.json()
    if call["policy_outcome"] != "launched":
        raise RuntimeError(f"round {n}: the policy did not launch: {call['policy_reason']}")
    active = await until(lambda: ops.board.for_call(call["id"]), 30.0)
    ex = await until(lambda: active.executor, 30.0)
    started = await until(
        lambda: next((x for x in ex.sortie.events if x.kind == "mission_started"), None), 60.0
    )
    launch = AutoLaunch(
        n,
        active.station.id,
        call["policy"],
        active.launched_by or "",
        round(answered_s, 3),
        round((started.wall_time - posted_at).total_seconds(), 3),
    )
    await ex.abort()
    await ex.wait_for_state(SortieState.DOCKED, SortieState.FAULT, timeout_s=300.0)
    return launch


def main(args: argparse.Namespace, make_app: AppFactory) -> int:
    deployment = load_deployment(args.deployment)
    label = "PX4 SITL" if args.px4 else "built-in simulator"
    result = asyncio.run(measure(deployment, make_app, args.rounds, label))
    if args.json:
        print(
            json.dumps(
                {
                    "vehicles": label,
                    "policy": result.policy,
                    "launches": [asdict(x) for x in result.launches],
                    **result.summary(),
                }
            )
        )
        return 0
    print(
        f"{deployment.name}, {label} at x1, policy {result.policy}: gunshot alert POSTed"
        " → armed with the mission started"
    )
    print(f"  {'round':>5} {'station':<10} {'answered s':>10} {'started s':>9}  launched by")
    for x in result.launches:
        print(
            f"  {x.round:>5} {x.station_id:<10} {x.alert_answered_wall_s:>10.3f}"
            f" {x.alert_to_started_wall_s:>9.3f}  {x.launched_by}"
        )
    s = result.summary()
    print(
        f"  p50 {s['p50_s']} s, max {s['max_s']} s over {s['launches']} launches"
        f" (target: under {TARGET_S:g} s); the alert's answer p50 {s['answered_p50_s']} s"
    )
    return 0
