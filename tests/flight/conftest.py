"""Fixtures for the flight tests: the simulator on free loopback ports, links, routes.

The simulator runs in the test's own event loop at `SIM_SPEED` times real time,
with its 50 Hz streams at 10 Hz (vehicle time) to spare the CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from dfr.deployment import Deployment
from dfr.flight_executor import ExecutorSettings, FlightExecutor
from dfr.operations import Operations
from dfr.services import open_services
from dfr.settings import Settings
from missions.geo import GeoPoint
from missions.profile import DroneProfile, Station
from missions.route import Fence, FencePolygon, Route, Waypoint
from missions.sortie import SortieState
from sitl.config import SimConfig
from sitl.fleet import SimFleet
from sitl.vehicle import SimVehicle
from stations.drone_link import DroneLink, LinkSettings
from tests import simulator

HOME = simulator.PUEBLO
HOME_ALT_AMSL_M = simulator.PUEBLO_ALT_M
SIM_SPEED = simulator.SPEED_FACTOR


#: Vehicle seconds to wall seconds, with room for a slow machine.
def wall_s(vehicle_s: float) -> float:
    return vehicle_s / SIM_SPEED * 2.0 + 10.0


def sim_config(**overrides: Any) -> SimConfig:
    return simulator.sim_config(SIM_SPEED, **overrides)


@pytest.fixture
async def vehicle() -> AsyncIterator[SimVehicle]:
    async with SimFleet.single(sim_config()) as sim:
        yield sim


@pytest.fixture
async def link(vehicle: SimVehicle) -> AsyncIterator[DroneLink]:
    async with DroneLink.connect("north-drone", vehicle.mavlink_address, LinkSettings()) as drone:
        await drone.wait_ready(timeout_s=wall_s(10.0))
        yield drone


def executor(
    drone: Any, route: Route, on_scene_s: float | None = 20.0, **settings: Any
) -> FlightExecutor:
    profile = DroneProfile(id="north-drone", mavlink="udpin://127.0.0.1:0")
    return FlightExecutor(
        drone, route, profile, on_scene_s, call_id="call-1", station_id="north",
        settings=ExecutorSettings(**settings),
    )  # fmt: skip


async def eventually(what: str, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll `predicate` (wall time) until it holds; for state that has no awaitable."""
    try:
        async with asyncio.timeout(timeout_s):
            while not predicate():  # noqa: ASYNC110 - plain state, nothing to await
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {timeout_s:g} s") from None


async def reach(ex: FlightExecutor, *states: SortieState, vehicle_s: float) -> SortieState:
    """Wait until the sortie is in one of `states` (limit given in vehicle seconds)."""
    try:
        return await ex.wait_for_state(*states, timeout_s=wall_s(vehicle_s))
    except TimeoutError:
        raise AssertionError(
            f"sortie still {ex.state} (wanted {', '.join(states)});"
            f" transitions: {[(t.to_state, t.cause, t.detail) for t in ex.sortie.transitions]};"
            f" events: {[(e.kind, e.detail) for e in ex.sortie.events]}"
        ) from None


def station(station_id: str, mavlink: str, position: GeoPoint = HOME, **profile: float) -> Station:
    return Station(
        id=station_id,
        name=station_id.title(),
        position=position,
        ground_alt_amsl_m=HOME_ALT_AMSL_M,
        drone=DroneProfile(id=f"{station_id}-drone", mavlink=mavlink, **profile),  # type: ignore[arg-type]
    )


def offset(point: GeoPoint, north_m: float, east_m: float) -> GeoPoint:
    """A point `north_m`/`east_m` away (flat-earth; fine over a few km)."""
    dlat = north_m / 111_320.0
    dlon = east_m / (111_320.0 * math.cos(math.radians(point.latitude_deg)))
    return GeoPoint(point.latitude_deg + dlat, point.longitude_deg + dlon)


def area_around(center: GeoPoint, half_m: float) -> FencePolygon:
    corners = [(-half_m, -half_m), (half_m, -half_m), (half_m, half_m), (-half_m, half_m)]
    return FencePolygon(
        tuple(
            (p.latitude_deg, p.longitude_deg) for p in (offset(center, n, e) for n, e in corners)
        ),
        True,
    )


def straight_route(
    home: GeoPoint,
    north_m: float,
    east_m: float = 0.0,
    cruise_altitude_m: float = 60.0,
    turn: tuple[float, float] | None = None,
    exclusions: tuple[FencePolygon, ...] = (),
) -> Route:
    """Station → (optional turn point) → scene, inside a generous operating area."""
    scene = offset(home, north_m, east_m)
    points = [Waypoint(home.latitude_deg, home.longitude_deg, 0.0)]
    if turn is not None:
        p = offset(home, *turn)
        points.append(Waypoint(p.latitude_deg, p.longitude_deg, cruise_altitude_m))
    points.append(Waypoint(scene.latitude_deg, scene.longitude_deg, cruise_altitude_m))
    length = sum(a.point.distance_m(b.point) for a, b in zip(points, points[1:], strict=False))
    return Route(
        waypoints=tuple(points),
        length_m=length,
        fence=Fence(polygons=(area_around(home, 3000.0), *exclusions)),
        point_of_interest=scene,
        cruise_altitude_m=cruise_altitude_m,
    )


@contextlib.asynccontextmanager
async def operations_on_simulator(
    tmp_path: Path, deployment: Deployment
) -> AsyncIterator[tuple[Operations, simulator.InProcessVehicles]]:
    """The server's operations service (SQLite store in `tmp_path`, no users) over the
    deployment's drones simulated in this process, every dock prepared."""
    users = tmp_path / "users.toml"
    users.write_text("# no users\n")
    settings = Settings(state_dir=tmp_path / "state", users_file=users, secret_key="test")
    vehicles = simulator.InProcessVehicles(SIM_SPEED)
    async with (
        open_services(settings, deployment, vehicles) as services,
        Operations.running(services, settings) as ops,
    ):
        await ops.wait_docks_prepared(wall_s(60.0))
        yield ops, vehicles
