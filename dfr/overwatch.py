"""Continuous overwatch: a call kept watched, drone after drone, until it is closed.

A call is kept under overwatch when flagged (`POST /api/calls` with `overwatch`, or
`PUT /api/calls/{id}/overwatch`) or when its priority is listed in the deployment's
`[overwatch] priorities`. Its drone stays on scene as long as its battery allows (the
mission's loiter, `on_scene_s`); twice a second this service looks at each such call:

    drone on scene, no relief ─ time left ≤ relief ETA + handover_s ─▶ relief launched
    relief on scene            ─────────────────────────────────────▶ drone sent home
    battery at its return threshold, still on scene ─────────────────▶ drone sent home

The relief is the best docked drone for a point `separation_m` from the scene, clear of
the drone on scene and its way home (`dfr.overwatch_plan`); it is reserved in the store as
relieving that sortie (audited `sortie.relief`) and launched like any dispatch. Its
video serves the call once it is on scene, so officers' share links and the wall follow
the call to it. When no drone can relieve, the pilot is alerted once per watch and the
service keeps looking.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from dfr.active_sorties import ActiveSortie, SortieBoard
from dfr.auth import Principal, Role
from dfr.deployment import Deployment
from dfr.dispatcher import Dispatcher, DispatchResult
from dfr.eta import EtaParameters, straight_return_time_s
from dfr.events import Event, EventBus
from dfr.flight_errors import CommandNotAllowed
from dfr.overwatch_plan import (
    BatteryTrend,
    on_scene_budget_s,
    relief_due,
    relief_points,
    return_threshold_pct,
    time_left_s,
)
from dfr.recommend import Recommendation
from dfr.store import CallRecord, Conflict, NotFound, Store
from missions.drone_state import DroneState
from missions.geo import GeoPoint
from missions.sortie import Cause, SortieState
from stations.drone_link import LinkError

log = logging.getLogger(__name__)

OVERWATCH = Principal("overwatch", Role.DISPATCHER)
#: How late the next look may come, in vehicle seconds (half a wall second is ten
#: vehicle seconds at the simulator's speed factor 20).
LOOK_SLACK_S = 15.0

StateFn = Callable[[str], DroneState]
ParamsFn = Callable[[str], EtaParameters]
LaunchFn = Callable[[DispatchResult, Principal], Awaitable[None]]
WithdrawFn = Callable[[int, str, str], Awaitable[object]]


@dataclass
class _Watch:
    """What the service keeps about one sortie watching a call."""

    battery: BatteryTrend = field(default_factory=BatteryTrend)
    alerted_no_relief: bool = False
    handed_over: bool = False


class Overwatch:
    """Relief launches and handovers for the calls kept under overwatch."""

    def __init__(
        self,
        deployment: Deployment,
        store: Store,
        board: SortieBoard,
        dispatcher: Dispatcher,
        bus: EventBus,
        state: StateFn,
        params: ParamsFn,
        launch: LaunchFn,
        withdraw: WithdrawFn,
        serving_changed: Callable[[int], None],
    ) -> None:
        """`state`: a station's drone's latest telemetry; `params`: a drone's ETA figures;
        `launch`: start a reserved relief like any dispatch; `withdraw`: give up one held
        for the pilot; `serving_changed`: the drone serving a call (its video) changed."""
        self.deployment = deployment
        self.settings = deployment.overwatch
        self._store = store
        self._board = board
        self._dispatcher = dispatcher
        self._bus = bus
        self._state = state
        self._params = params
        self._launch = launch
        self._withdraw = withdraw
        self._serving_changed = serving_changed
        self._watches: dict[int, _Watch] = {}

    # -- the runner's questions -----------------------------------------------------

    def covers(self, call: CallRecord) -> bool:
        return self.settings.covers(call.priority, call.overwatch)

    def on_scene_s(self, active: ActiveSortie) -> float:
        """How long the sortie stays on scene: the deployment's time, or for a call under
        overwatch as long as the drone's battery allows."""
        default = self.deployment.defaults.on_scene_s
        if not self.covers(active.call):
            return default
        drone = active.station.drone
        battery = self._state(active.station.id).battery_pct
        if battery is None:
            return default
        home_s = self._way_home_s(active, active.route.waypoints[-1].point)
        budget = on_scene_budget_s(
            drone.endurance_s, battery, self.deployment.defaults.reserve_pct, active.eta_s, home_s
        )
        return round(budget, 1)

    # -- the watch --------------------------------------------------------------------

    async def run(self, interval_s: float = 0.5) -> None:
        while True:
            try:
                await self.look()
            except Exception:  # noqa: BLE001 - the next look tries again
                log.exception("overwatch: a look failed")
            await asyncio.sleep(interval_s)

    async def look(self) -> None:
        """One look at every call under overwatch with a drone in the air."""
        by_call: dict[int, list[ActiveSortie]] = {}
        for active in self._board:
            by_call.setdefault(active.call.id, []).append(active)
        for sortie_id in list(self._watches):
            if sortie_id not in self._board:
                del self._watches[sortie_id]
        for call_id, sorties in by_call.items():
            if not any(self.covers(a.call) for a in sorties):
                continue  # as the board knows the call (flagging it updates the board)
            try:
                call = await self._store.get_call(call_id)  # closed meanwhile?
            except NotFound:
                continue
            if call.status == "dispatched" and self.covers(call):
                await self._look_at(call, sorties)

    async def _look_at(self, call: CallRecord, sorties: list[ActiveSortie]) -> None:
        on_scene = [a for a in sorties if _state(a) is SortieState.ON_SCENE]
        for watcher in on_scene:
            watch = self._watches.setdefault(watcher.record.id, _Watch())
            if watch.handed_over:
                continue
            left = await self._time_left(call, watcher, watch)
            if left is None:
                continue  # no fix yet, or sent home at its return threshold
            relief = next((a for a in sorties if a.record.relieves == watcher.record.id), None)
            if relief is None:
                await self._plan_relief(call, watcher, watch, left)
            elif _state(relief) is SortieState.ON_SCENE:
                await self._hand_over(call, watcher, relief, left)

    async def _time_left(
        self, call: CallRecord, watcher: ActiveSortie, watch: _Watch
    ) -> float | None:
        """Vehicle seconds the drone may still stay; None when unknown, or when it is at
        its return threshold (it is then sent home, relief or not)."""
        state = self._state(watcher.station.id)
        if state.battery_pct is not None and state.vehicle_time_s is not None:
            watch.battery.add(state.vehicle_time_s, state.battery_pct)
        if state.position is None:
            return None
        drone = watcher.station.drone
        threshold = return_threshold_pct(
            drone.endurance_s,
            self.deployment.defaults.reserve_pct,
            self._way_home_s(watcher, state.position.point),
        )
        if state.battery_pct is not None and state.battery_pct <= threshold:
            why = f"battery {state.battery_pct:.0f} %: at its return threshold ({threshold:.0f} %)"
            await self._send_home(call, watcher, watch, why, 0.0)
            return None
        return time_left_s(
            _loiter_left_s(watcher, state),
            state.battery_pct,
            threshold,
            watch.battery.drain_pct_per_s,
            drone.endurance_s,
        )

    async def _plan_relief(
        self, call: CallRecord, watcher: ActiveSortie, watch: _Watch, left: float
    ) -> None:
        """Launch the relief when it is due; alert once when no drone can go."""
        position = self._state(watcher.station.id).position
        assert position is not None
        scene = GeoPoint(call.latitude_deg, call.longitude_deg)
        chosen = await self._best_relief(scene, watcher, position.point)
        if chosen is None:
            if not watch.alerted_no_relief:
                watch.alerted_no_relief = True
                self._alert(
                    "warning",
                    watcher,
                    f"no drone can relieve {watcher.station.drone.id} over call {call.id} now"
                    f" ({left:.0f} s left on scene); overwatch keeps looking",
                )
            return
        point, rec = chosen
        if relief_due(left, rec.candidates[0].eta_s, self.settings.handover_s, LOOK_SLACK_S):
            await self._send_relief(call, watcher, point, rec, left)

    async def _best_relief(
        self, scene: GeoPoint, watcher: ActiveSortie, position: GeoPoint
    ) -> tuple[GeoPoint, Recommendation] | None:
        """The point the relief watches from and the recommendation for it (its best
        docked drone first); None when no point has a drone that can go."""
        planner = self.deployment.planner
        others = [s for s in self.deployment.stations if s.id != watcher.station.id]
        if not others:
            return None
        nearest = min(others, key=lambda s: s.position.distance_m(scene))
        for point in _allowed(
            relief_points(
                scene,
                self.settings.separation_m,
                position,
                watcher.station.position,
                nearest.position,
            ),
            planner.permitted,
        ):
            rec = await self._dispatcher.recommend(point)
            docked = [c for c in rec.candidates if not c.airborne]
            if docked:
                return point, replace(rec, candidates=tuple(docked))
        return None

    async def _send_relief(
        self,
        call: CallRecord,
        watcher: ActiveSortie,
        point: GeoPoint,
        rec: Recommendation,
        left_s: float,
    ) -> None:
        for candidate in rec.candidates:
            try:
                sortie = await self._store.reserve_relief(
                    candidate.drone_id,
                    candidate.station_id,
                    watcher.record.id,
                    OVERWATCH.name,
                    eta_s=round(candidate.eta_s, 2),
                    route=candidate.route.as_geojson(),
                )
            except (Conflict, NotFound) as exc:
                log.info("overwatch: no relief for sortie %d: %s", watcher.record.id, exc)
                return
            if sortie is None:
                continue  # taken meanwhile: the next best
            fenced = self.deployment.planner.fenced(candidate.route)
            result = DispatchResult(call, rec, sortie, replace(candidate, route=fenced))
            self._alert(
                "info",
                watcher,
                f"{candidate.drone_id} launched to relieve {watcher.station.drone.id} over"
                f" call {call.id}: due in {candidate.eta_s:.0f} s, {left_s:.0f} s before"
                f" {watcher.station.drone.id} must leave",
                relief_drone_id=candidate.drone_id,
                relief_sortie_id=sortie.id,
            )
            await self._launch(result, OVERWATCH)
            return

    async def _hand_over(
        self, call: CallRecord, watcher: ActiveSortie, relief: ActiveSortie, left: float
    ) -> None:
        watch = self._watches.setdefault(watcher.record.id, _Watch())
        why = f"relieved by {relief.station.drone.id} over call {call.id}, {left:.0f} s to spare"
        if await self._send_home(call, watcher, watch, why, left):
            self._serving_changed(call.id)

    async def _send_home(
        self, call: CallRecord, watcher: ActiveSortie, watch: _Watch, why: str, left_s: float
    ) -> bool:
        """Send the watching drone home; False (the pilot alerted) when it did not take
        the command: the next look tries again."""
        executor = watcher.executor
        assert executor is not None
        drone_id = watcher.station.drone.id
        try:
            await executor.return_home(Cause.OVERWATCH, why)
        except (CommandNotAllowed, LinkError, TimeoutError) as exc:
            self._alert("critical", watcher, f"{drone_id}: {why}, but the return failed: {exc}")
            return False
        watch.handed_over = True
        await self._store.audit(
            OVERWATCH.name,
            "sortie.overwatch_return",
            f"sortie:{watcher.record.id}",
            {"call_id": call.id, "why": why, "time_left_s": round(left_s, 1)},
        )
        self._alert("info", watcher, f"{drone_id} returns home: {why}")
        return True

    async def call_closed(self, call: CallRecord) -> None:
        """A call under overwatch was closed: its drones come home (a relief not yet off
        its dock stays there)."""
        if not self.covers(call):
            return
        for active in self._board.of_call(call.id):
            executor = active.executor
            try:
                if executor is None or executor.state is SortieState.LAUNCHING:
                    if executor is not None:
                        await executor.abort()
                    else:
                        await self._withdraw(active.record.id, OVERWATCH.name, "call closed")
                elif executor.state in (SortieState.EN_ROUTE, SortieState.ON_SCENE):
                    await executor.return_home(Cause.OVERWATCH, "the call is closed")
                    self._alert(
                        "info",
                        active,
                        f"{active.station.drone.id} returns home: call {call.id} closed",
                    )
            except Exception as exc:  # noqa: BLE001 - the others still come home
                log.warning(
                    "overwatch: sortie %d after call %d closed: %s", active.record.id, call.id, exc
                )

    # -- helpers --------------------------------------------------------------------

    def _way_home_s(self, active: ActiveSortie, position: GeoPoint) -> float:
        drone = active.station.drone
        return straight_return_time_s(
            position.distance_m(active.station.position),
            active.route.cruise_altitude_m,
            drone,
            self._params(drone.id),
        )

    def _alert(self, severity: str, about: ActiveSortie, message: str, **more: Any) -> None:
        data = {
            "severity": severity,
            "station_id": about.station.id,
            "drone_id": about.station.drone.id,
            "call_id": about.call.id,
            **more,
            "message": message,
        }
        self._bus.publish(Event("alert", data))


def _state(active: ActiveSortie) -> SortieState | None:
    return active.executor.state if active.executor is not None else None


def _loiter_left_s(active: ActiveSortie, state: DroneState) -> float | None:
    """Vehicle seconds left of the mission's loiter over the scene (None: not known)."""
    executor = active.executor
    if executor is None or executor.plan.on_scene_s is None or state.vehicle_time_s is None:
        return None
    arrived = next(
        (
            t.vehicle_time_s
            for t in reversed(executor.sortie.transitions)
            if t.to_state is SortieState.ON_SCENE
        ),
        None,
    )
    if arrived is None:
        return None
    return executor.plan.on_scene_s - (state.vehicle_time_s - arrived)


def _allowed(
    points: Iterable[GeoPoint], permitted: Callable[[GeoPoint], bool]
) -> Iterable[GeoPoint]:
    return (p for p in points if permitted(p))
