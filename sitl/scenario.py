"""The scenario runner: calls from a CSV through the dispatcher and real MAVLink flights.

One vehicle per station (the built-in simulator, or PX4 SITL with `px4=True`),
the fleet of MAVSDK links, the dispatcher on a fresh SQLite file, and one
flight executor per sortie, three stations at once. Each call fires at its
`t_s` offset on the vehicles' clock; every time reported is vehicle time, so a
run at 10x measures what a real-time run would.

CSV header: ``t_s,lat,lon,priority``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
import math
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from dfr.deployment import Deployment
from dfr.dispatcher import Dispatcher, DispatchResult
from dfr.eta import EtaParameters, FlownSortie, calibrate
from dfr.operations import fleet_availability
from dfr.recommend import DroneAvailability
from dfr.store import NewCall, Store
from missions.executor import ExecutorSettings, FlightExecutor, prepare_on_dock
from missions.geo import GeoPoint
from stations.fleet import Fleet
from stations.profile import Station

log = logging.getLogger(__name__)


class ScenarioError(Exception):
    """A call file or set-up the scenario cannot run."""


@dataclass(frozen=True, slots=True)
class ScenarioCall:
    t_s: float
    latitude_deg: float
    longitude_deg: float
    priority: int = 1


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One call, all times in vehicle seconds from the call."""

    call_id: int
    t_s: float
    station_id: str | None
    drone_id: str | None
    route_m: float | None
    eta_s: float | None
    arrival_s: float | None  # call → on scene
    dispatch_to_armed_s: float | None
    dispatch_to_takeoff_s: float | None
    queued_s: float  # call → dispatch (0 unless every drone was busy)
    final_state: str | None
    reason: str | None = None

    @property
    def eta_error_pct(self) -> float | None:
        if self.eta_s is None or self.arrival_s is None or self.queued_s > 0:
            return None
        return 100.0 * (self.eta_s - self.arrival_s) / self.arrival_s


@dataclass(frozen=True)
class ScenarioResult:
    calls: tuple[CallOutcome, ...]
    speed_factor: float
    achieved_speed_factor: float | None
    calibrated: EtaParameters | None

    def summary(self) -> dict:
        arrivals = sorted(c.arrival_s for c in self.calls if c.arrival_s is not None)
        errors = [abs(e) for c in self.calls if (e := c.eta_error_pct) is not None]
        launches = [c.dispatch_to_armed_s for c in self.calls if c.dispatch_to_armed_s is not None]
        takeoffs = [
            c.dispatch_to_takeoff_s for c in self.calls if c.dispatch_to_takeoff_s is not None
        ]
        return {
            "calls": len(self.calls),
            "on_scene": len(arrivals),
            "arrival_p50_s": _pct(arrivals, 0.5),
            "arrival_p90_s": _pct(arrivals, 0.9),
            "arrival_max_s": round(max(arrivals), 1) if arrivals else None,
            "within_90s_share": round(sum(a <= 90 for a in arrivals) / len(self.calls), 3)
            if self.calls
            else None,
            "eta_abs_error_p50_pct": _pct(sorted(errors), 0.5),
            "eta_abs_error_max_pct": round(max(errors), 1) if errors else None,
            "dispatch_to_armed_max_s": round(max(launches), 2) if launches else None,
            "dispatch_to_takeoff_max_s": round(max(takeoffs), 2) if takeoffs else None,
            "speed_factor": self.speed_factor,
            "achieved_speed_factor": self.achieved_speed_factor,
            "calibrated_eta": asdict(self.calibrated) if self.calibrated else None,
        }

    def as_json(self) -> dict:
        return {
            "calls": [{**asdict(c), "eta_error_pct": _round(c.eta_error_pct)} for c in self.calls],
            "summary": self.summary(),
        }


def read_calls(path: Path) -> list[ScenarioCall]:
    """Read `t_s,lat,lon,priority` rows; raises ScenarioError naming the line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    rows = csv.DictReader(text.splitlines())
    if rows.fieldnames is None or [f.strip() for f in rows.fieldnames][:4] != [
        "t_s",
        "lat",
        "lon",
        "priority",
    ]:
        raise ScenarioError(f"{path}: header must be t_s,lat,lon,priority")
    calls = []
    for line, row in enumerate(rows, start=2):
        try:
            call = ScenarioCall(
                float(row["t_s"]), float(row["lat"]), float(row["lon"]), int(row["priority"])
            )
            GeoPoint(call.latitude_deg, call.longitude_deg)
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{path}: line {line}: {exc}") from exc
        if not math.isfinite(call.t_s) or call.t_s < 0:
            raise ScenarioError(f"{path}: line {line}: t_s must be >= 0")
        calls.append(call)
    return sorted(calls, key=lambda c: c.t_s)


@contextlib.asynccontextmanager
async def vehicles(
    deployment: Deployment, speed_factor: float, px4: bool, api_port_base: int
) -> AsyncIterator[list[Station]]:
    """One vehicle per station: stations whose drone addresses point at them."""
    if px4:
        from sitl.px4_launcher import px4_stations

        async with px4_stations(deployment.stations, speed_factor) as stations:
            yield list(stations)
    else:
        from sitl.sim_process import simulated_stations

        async with simulated_stations(deployment.stations, speed_factor, api_port_base) as st:
            yield st


class _Run:
    """The state of one scenario run."""

    def __init__(
        self,
        deployment: Deployment,
        fleet: Fleet,
        store: Store,
        on_scene_s: float,
        settings: ExecutorSettings,
    ) -> None:
        self.deployment = deployment
        self.fleet = fleet
        self.settings = settings
        self.on_scene_s = on_scene_s
        self.dispatcher = Dispatcher(deployment, store, availability=self.availability)
        self.outcomes: dict[int, CallOutcome] = {}
        self.call_time: dict[int, dict[str, float]] = {}  # call → vehicle time per station
        self.flown: list[FlownSortie] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def availability(self) -> dict[str, DroneAvailability]:
        return fleet_availability(self.fleet)

    def vehicle_times(self) -> dict[str, float]:
        return {
            s.id: self.fleet.state(s.id).vehicle_time_s or 0.0 for s in self.deployment.stations
        }

    def clock_s(self) -> float:
        """The scenario clock: the slowest vehicle's time."""
        return min(self.vehicle_times().values())

    async def until(self, vehicle_time_s: float) -> None:
        """Wait until the scenario clock reaches `vehicle_time_s`."""
        while (now := self.vehicle_times()) and min(now.values()) < vehicle_time_s:
            slowest = min(now, key=now.__getitem__)
            await self.fleet.link(slowest).changed(timeout_s=5.0)

    async def fire(self, call: ScenarioCall) -> None:
        record = await self.dispatcher.create_call(
            NewCall(call.latitude_deg, call.longitude_deg, call.priority, "scenario"), "scenario"
        )
        self.call_time[record.id] = self.vehicle_times()
        self.outcomes[record.id] = CallOutcome(
            record.id, call.t_s, None, None, None, None, None, None, None, 0.0, None
        )
        result = await self.dispatcher.dispatch(record.id, "scenario")
        self.launch(result)

    def launch(self, result: DispatchResult) -> None:
        if result.queued:
            return
        task = asyncio.create_task(self.fly(result), name=f"sortie {result.sortie.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def fly(self, result: DispatchResult) -> None:
        assert result.sortie is not None
        assert result.candidate is not None
        call_id, c = result.call.id, result.candidate
        station = self.deployment.station(c.station_id)
        executor = FlightExecutor(
            self.fleet.drone(station.id),
            c.route,
            station.drone,
            self.on_scene_s,
            call_id=str(call_id),
            station_id=station.id,
            settings=self.settings,
        )
        flight = await executor.run()
        t = flight.timeline
        called_at = self.call_time[call_id][station.id]
        queued = max(0.0, (t.dispatch_s or called_at) - called_at) if result.call else 0.0
        arrival = None if t.on_scene_s is None else t.on_scene_s - called_at
        self.outcomes[call_id] = replace(
            self.outcomes[call_id],
            station_id=station.id,
            drone_id=station.drone.id,
            route_m=round(c.route.length_m, 1),
            eta_s=round(c.eta_s, 1),
            arrival_s=_round(arrival),
            dispatch_to_armed_s=_round(t.dispatch_to_armed_s, 2),
            dispatch_to_takeoff_s=_round(t.dispatch_to_takeoff_s, 2),
            queued_s=round(queued, 1) if queued > 1.0 else 0.0,
            final_state=str(flight.final_state),
            reason=flight.reason,
        )
        if t.dispatch_to_takeoff_s is not None and t.dispatch_to_on_scene_s is not None:
            self.flown.append(
                FlownSortie(
                    c.route, station.drone, t.dispatch_to_takeoff_s, t.dispatch_to_on_scene_s
                )
            )
        served = await self.dispatcher.release(
            result.sortie.id, str(flight.final_state), "scenario", flight.reason or ""
        )
        for next_result in served:
            self.launch(next_result)


async def run_scenario(
    deployment: Deployment,
    calls: Sequence[ScenarioCall],
    speed_factor: float = 10.0,
    on_scene_s: float | None = None,
    px4: bool = False,
    api_port_base: int = 14540,
    ready_timeout_s: float = 120.0,
) -> ScenarioResult:
    """Fly every call; returns when every sortie is back on the ground."""
    on_scene_s = deployment.defaults.on_scene_s if on_scene_s is None else on_scene_s
    with tempfile.TemporaryDirectory(prefix="dfr-scenario-") as tmp:
        async with (
            vehicles(deployment, speed_factor, px4, api_port_base) as stations,
            Store.open(Path(tmp) / "scenario.sqlite") as store,
            Fleet.running(stations) as fleet,
        ):
            live = replace(deployment, stations=tuple(stations))
            run = _Run(live, fleet, store, on_scene_s, ExecutorSettings())
            await run.dispatcher.start()
            for station in stations:
                link = await fleet.wait_online(station.id, ready_timeout_s)
                await link.wait_ready(ready_timeout_s)
                await prepare_on_dock(link, station.drone, deployment.defaults.cruise_alt_m)
            start_s = run.clock_s()
            wall_start = asyncio.get_running_loop().time()
            for call in calls:
                await run.until(start_s + call.t_s)
                await run.fire(call)
            while run.tasks or await store.queued_calls():
                if not run.tasks and await store.queued_calls():
                    break  # queued calls no drone will ever come back for
                await asyncio.wait(set(run.tasks))
            wall_s = asyncio.get_running_loop().time() - wall_start
            achieved = round((run.clock_s() - start_s) / wall_s, 2) if wall_s > 0 else None
    outcomes = tuple(run.outcomes[k] for k in sorted(run.outcomes))
    calibrated = calibrate(run.flown, deployment.eta) if run.flown else None
    return ScenarioResult(outcomes, speed_factor, achieved, calibrated)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[max(0, math.ceil(q * len(values)) - 1)], 1)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
