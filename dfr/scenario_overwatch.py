"""The overwatch scenario: one call kept watched for a long time (40 minutes by default),
longer than any drone's battery, on real MAVLink flights; reports the watch's coverage.

    dfr scenario --overwatch-min 40

The call is flagged for overwatch and dispatched like any other (the best station's
drone), held open for `minutes` of vehicle time after the first drone reached the scene,
then closed; the run ends when every drone is back on its dock. Coverage is judged on
the sorties' recorded transitions: a drone watches from its arrival on scene until it
leaves (returning, landing, or the end of the sortie). The gap is the time within the watch
(first arrival → call closed) when no drone was on scene: the target is none. Every
time is vehicle time, each drone's counted from its own clock's reading when the call
came in (so a run that falls behind its speed factor still measures what it flew).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from dfr.auth import Principal, Role
from dfr.deployment import Deployment
from dfr.operations import Operations
from dfr.scenario import read_calls
from dfr.services import VehicleProvider, open_services
from dfr.settings import Settings
from dfr.store import NewCall, SortieEvent, SortieRecord
from missions.geo import GeoPoint
from missions.sortie import SortieState

_SCENARIO = Principal("scenario", Role.DISPATCHER)


@dataclass(frozen=True)
class WatchShift:
    """One drone's time over the scene."""

    sortie_id: int
    drone_id: str
    relieves: int | None
    arrived_s: float  # vehicle seconds since the call came in
    left_s: float | None  # None: still there when the call closed
    battery_left_pct: float | None  # when it left the scene
    why_left: str
    #: Relieved: how much longer it could have stayed (vehicle seconds) when it left.
    spare_s: float | None = None


@dataclass(frozen=True)
class OverwatchResult:
    minutes: float
    speed_factor: float
    shifts: tuple[WatchShift, ...]
    watch_s: float  # first arrival → call closed
    gap_s: float  # no drone on scene within the watch
    handovers: int
    #: The least time a relieved drone could still have stayed when its relief took over.
    min_spare_s: float | None
    all_docked: bool

    def as_json(self) -> dict:
        return {
            "minutes": self.minutes,
            "speed_factor": self.speed_factor,
            "watch_s": round(self.watch_s, 1),
            "gap_s": round(self.gap_s, 1),
            "handovers": self.handovers,
            "min_spare_s": self.min_spare_s,
            "all_docked": self.all_docked,
            "shifts": [
                {
                    "sortie_id": s.sortie_id,
                    "drone_id": s.drone_id,
                    "relieves": s.relieves,
                    "arrived_s": round(s.arrived_s, 1),
                    "left_s": None if s.left_s is None else round(s.left_s, 1),
                    "battery_left_pct": s.battery_left_pct,
                    "why_left": s.why_left,
                    "spare_s": s.spare_s,
                }
                for s in self.shifts
            ],
        }


def coverage_gap_s(shifts: list[tuple[float, float]], start_s: float, end_s: float) -> float:
    """Seconds within [start_s, end_s] that no (arrived, left) interval covers.

    >>> coverage_gap_s([(0, 100), (90, 200), (250, 400)], 10, 300)
    50.0
    """
    gap, reached = 0.0, start_s
    for arrived, left in sorted(shifts):
        if left <= reached:
            continue
        if arrived > reached:
            gap += min(arrived, end_s) - reached
        reached = max(reached, left)
        if reached >= end_s:
            break
    return gap + max(end_s - reached, 0.0)


async def run_overwatch(
    deployment: Deployment,
    vehicles: VehicleProvider,
    speed_factor: float,
    minutes: float = 40.0,
    scene: GeoPoint | None = None,
    ready_timeout_s: float = 120.0,
) -> OverwatchResult:
    """Keep one call at `scene` (default: the first call of the deployment's call set,
    else the centre of its stations) watched for `minutes` of vehicle time."""
    where = scene or _default_scene(deployment)
    with tempfile.TemporaryDirectory(prefix="dfr-overwatch-") as tmp:
        planned = replace(deployment, launch_policy="immediate")
        users = Path(tmp) / "users.toml"
        users.write_text("# nobody logs in to a scenario run\n")
        settings = Settings(state_dir=Path(tmp), users_file=users, secret_key="scenario")
        async with (
            open_services(settings, planned, vehicles) as services,
            Operations.running(services, settings) as ops,
        ):
            await ops.wait_docks_prepared(ready_timeout_s)
            new = NewCall(
                where.latitude_deg, where.longitude_deg, 1, "manual", "overwatch", overwatch=True
            )
            call = await ops.calls.create_call(new, _SCENARIO.name)
            at_call = _clocks(ops)
            result = await ops.dispatch(call.id, _SCENARIO)
            if result.sortie is None:
                raise RuntimeError("no drone could take the overwatch call")
            batteries: dict[int, float | None] = {}
            first = await _watch_until_arrival(ops, call.id, batteries)
            arrived = ops.fleet.state(first).vehicle_time_s or 0.0
            while (ops.fleet.state(first).vehicle_time_s or 0.0) < arrived + minutes * 60.0:
                _note_batteries(ops, call.id, batteries)
                await asyncio.sleep(0.2)
            at_close = _clocks(ops)
            await ops.calls.close_call(call.id, _SCENARIO.name)
            while len(ops.board):  # noqa: ASYNC110 - the board has no event to wait on
                await asyncio.sleep(0.2)
            sorties = [s for s in await ops.records.list_sorties() if s.call_id == call.id]
            spare = {
                int(e.subject.removeprefix("sortie:")): e.details.get("time_left_s")
                for e in await ops.records.audit_log(100_000, 0)
                if e.action == "sortie.overwatch_return"
            }
    shifts = tuple(
        shift
        for s in sorties
        if (shift := _shift(s, at_call, at_close, batteries, spare.get(s.id))) is not None
    )
    closed_s = at_close[first] - at_call[first]
    watch_start = min((s.arrived_s for s in shifts), default=closed_s)
    spans = [(s.arrived_s, s.left_s if s.left_s is not None else closed_s) for s in shifts]
    spares = [s.spare_s for s in shifts if s.spare_s is not None]
    return OverwatchResult(
        minutes=minutes,
        speed_factor=speed_factor,
        shifts=shifts,
        watch_s=closed_s - watch_start,
        gap_s=coverage_gap_s(spans, watch_start, closed_s),
        handovers=sum(1 for s in shifts if s.relieves is not None),
        min_spare_s=min(spares) if spares else None,
        all_docked=all(s.state == "docked" for s in sorties),
    )


def _default_scene(deployment: Deployment) -> GeoPoint:
    calls = deployment.source.parent / "calls.csv"
    if calls.exists():
        first = read_calls(calls)[0]
        return GeoPoint(first.latitude_deg, first.longitude_deg)
    stations = deployment.stations
    return GeoPoint(
        sum(s.position.latitude_deg for s in stations) / len(stations),
        sum(s.position.longitude_deg for s in stations) / len(stations),
    )


def _clocks(ops: Operations) -> dict[str, float]:
    """Each station's vehicle clock now."""
    return {s.id: ops.fleet.state(s.id).vehicle_time_s or 0.0 for s in ops.deployment.stations}


async def _watch_until_arrival(
    ops: Operations, call_id: int, batteries: dict[int, float | None]
) -> str:
    """Wait for the call's first drone to reach the scene; returns its station."""
    while True:
        _note_batteries(ops, call_id, batteries)
        for active in ops.board.of_call(call_id):
            if active.state == str(SortieState.ON_SCENE):
                return active.station.id
        if not len(ops.board):
            raise RuntimeError("the overwatch call's drone came back before reaching the scene")
        await asyncio.sleep(0.1)


def _note_batteries(ops: Operations, call_id: int, batteries: dict[int, float | None]) -> None:
    """Each drone's battery while it is over the scene (the last is what it left with)."""
    for active in ops.board.of_call(call_id):
        if active.state == str(SortieState.ON_SCENE):
            batteries[active.record.id] = ops.fleet.state(active.station.id).battery_pct


def _shift(
    sortie: SortieRecord,
    at_call: dict[str, float],
    at_close: dict[str, float],
    batteries: dict[int, float | None],
    spare_s: float | None,
) -> WatchShift | None:
    """The sortie's time over the scene, from its recorded transitions."""
    start = at_call[sortie.station_id]

    def since_call(event: SortieEvent) -> float:
        assert event.vehicle_s is not None  # on scene and after: the vehicle was heard
        return event.vehicle_s - start

    events = list(sortie.events)
    arrived = next((i for i, e in enumerate(events) if e.state == "on_scene"), None)
    if arrived is None:
        return None
    leaving = next((e for e in events[arrived + 1 :] if e.state != "on_scene"), None)
    left_s = since_call(leaving) if leaving is not None else None
    closed_s = at_close[sortie.station_id] - start
    if left_s is not None and left_s >= closed_s:
        left_s, why = None, "the call closed"
    else:
        why = leaving.cause if leaving is not None else "the call closed"
    battery = batteries.get(sortie.id)
    return WatchShift(
        sortie_id=sortie.id,
        drone_id=sortie.drone_id,
        relieves=sortie.relieves,
        arrived_s=since_call(events[arrived]),
        left_s=left_s,
        battery_left_pct=None if battery is None else round(battery, 1),
        why_left=why,
        spare_s=spare_s,
    )
