"""Sorties a previous run of the server left open, matched with what their drones report.

A server may stop (a crash, kill -9, a power cut) while drones fly. The store
still says which sortie holds each drone; the vehicle says where it is and what
it does. At start-up, and every few seconds until each inherited sortie is
settled, the two are matched:

    drone in the air                   → re-adopted: followed from its mode and
                                         mission progress, pilot commands work
    drone disarmed on its dock         → sortie closed, drone released, queue served
    drone disarmed away from its dock  → sortie closed as landed; the drone is
                                         taken out of service and the pilots alerted
    drone offline, or armed on the ground
                                       → looked at again in the next round
    a launch policy's launch held for the pilot, never launched
                                       → expired: drone released, call open again

A call whose scene never saw the drone goes back to the queue. Sorties this
server reserved itself are the sortie runner's and never looked at here.

With several servers (PostgreSQL, drone-link leases), a server inherits only the
sorties of the drones it holds: none at start-up, each drone's when it takes its
lease (`take_over`), e.g. from a server that died mid-flight. A drone taken over on
its dock with a reservation made moments ago (another server reserved it, and the
request to launch it went to a server that died) is launched, not released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from dfr.auth import Principal, Role
from dfr.sortie_runner import SortieRunner
from dfr.store import SortieRecord
from missions.drone_state import DroneState
from missions.profile import Station
from missions.sortie import SortieState
from stations.fleet import Fleet

log = logging.getLogger(__name__)

#: While a drone in the air (or one not reporting yet) is not settled, those on the
#: ground wait, for at most this long after the settling began (a drone whose sortie
#: cannot be settled, offline or flying for no call, must not keep the others' drones
#: from the queue).
AIRBORNE_FIRST_S = 10.0
IN_AIR, MAYBE_IN_AIR, ON_GROUND = 0, 1, 2  # the settling order
#: A reservation found on a drone taken over is launched if it is younger than this
#: (older ones are released, their calls back in the queue, as after a restart).
FRESH_RESERVATION_S = 60.0


class Finding(StrEnum):
    """What an inherited sortie's drone shows."""

    AIRBORNE = "airborne"
    ON_DOCK = "on_dock"
    AWAY = "away"
    UNSETTLED = "unsettled"  # no telemetry yet, or armed on the ground


@dataclass(frozen=True, slots=True)
class Look:
    finding: Finding
    detail: str


def look_at(state: DroneState, station: Station, dock_radius_m: float) -> Look:
    """What a drone's telemetry says about the sortie it was left flying."""
    if not state.complete:
        return Look(Finding.UNSETTLED, "telemetry not complete yet")
    if state.in_air:
        return Look(Finding.AIRBORNE, f"in the air in {state.flight_mode}")
    if state.armed:
        return Look(Finding.UNSETTLED, "armed on the ground")
    assert state.position is not None  # complete
    away_m = state.position.point.distance_m(station.position)
    if away_m <= dock_radius_m:
        return Look(Finding.ON_DOCK, f"disarmed {away_m:.1f} m from its dock")
    return Look(Finding.AWAY, f"disarmed {away_m:.0f} m from its dock")


def reached_scene(record: SortieRecord) -> bool:
    """Whether the stored timeline shows the drone over its scene."""
    return any(e.state == SortieState.ON_SCENE for e in record.events)


class SortieRecovery:
    """Settles the sorties the store holds open from before this server started."""

    def __init__(
        self,
        runner: SortieRunner,
        fleet: Fleet,
        dock_radius_m: float,
        interval_s: float = 0.25,
    ) -> None:
        self._runner = runner
        self._fleet = fleet
        self._dock_radius_m = dock_radius_m
        self._interval_s = interval_s
        self._pending: dict[str, int] = {}  # station id → inherited sortie id
        self._arrivals: set[str] = set()  # stations taken over, their sorties not read yet
        self._taken_over: set[str] = set()  # stations whose pending sortie came by take-over
        self._noted: dict[str, str] = {}  # what was last logged per station
        self._task: asyncio.Task[None] | None = None
        self.settled = asyncio.Event()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SortieRecovery]:
        """Find the inherited sorties, then settle them in the background."""
        await self._inherit()
        self._task = asyncio.create_task(self._run(), name="sortie recovery")
        try:
            yield self
        finally:
            task, self._task = self._task, None
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def take_over(self, station_id: str) -> None:
        """This server has just taken the station's drone from another: settle the
        sortie the store says it flies, if any, as an inherited one."""
        self._arrivals.add(station_id)
        self.settled.clear()
        if self._task is not None and self._task.done():
            self._task = asyncio.create_task(self._run(), name="sortie recovery")

    @property
    def pending(self) -> dict[str, int]:
        """Inherited sorties not settled yet, by station."""
        return dict(self._pending)

    async def _inherit(self) -> None:
        held = await self._runner.store.drone_sorties()
        for station in self._runner.deployment.stations:
            if not self._fleet.permitted(station.id):
                continue  # another server's drone: inherited if this one takes it over
            sortie_id = held.get(station.drone.id)
            if sortie_id is not None and sortie_id > 0:
                self._pending[station.id] = sortie_id
        if self._pending:
            log.warning("sorties left open by the last run: %s", self._pending)
        else:
            self.settled.set()

    async def _welcome(self) -> None:
        """Read the sorties of the drones taken over since the last round."""
        if not self._arrivals:
            return
        held = await self._runner.store.drone_sorties()
        while self._arrivals:
            station = self._runner.deployment.station(self._arrivals.pop())
            sortie_id = held.get(station.drone.id)
            own = self._runner.board.for_station(station.id)
            if sortie_id is not None and sortie_id > 0 and own is None:
                log.warning("%s: taken over with sortie %d open", station.id, sortie_id)
                self._pending[station.id] = sortie_id
                self._taken_over.add(station.id)

    async def _run(self) -> None:
        await self._welcome()
        started = time.monotonic()
        while self._pending or self._arrivals:
            await self._welcome()
            # Drones on the ground wait while one that is (or may be, its telemetry not
            # complete yet) in the air is not settled: for a while, not for ever.
            hold_ground = time.monotonic() - started < AIRBORNE_FIRST_S
            unsettled_above = False
            ranked = sorted(
                (
                    (self._rank(station_id), station_id, sortie_id)
                    for station_id, sortie_id in self._pending.items()
                ),
                key=lambda entry: entry[0],
            )
            for rank, station_id, sortie_id in ranked:
                on_ground = rank == ON_GROUND
                if on_ground and hold_ground and unsettled_above:
                    break
                station = self._runner.deployment.station(station_id)
                try:
                    done = await self._settle(station, sortie_id)
                except Exception:  # noqa: BLE001 - one bad record must not stop the others
                    log.exception("%s: could not settle sortie %d", station_id, sortie_id)
                    done = False
                if done:
                    del self._pending[station_id]
                    self._taken_over.discard(station_id)
                elif not on_ground:
                    unsettled_above = True
            if self._pending:
                await asyncio.sleep(self._interval_s)
        self.settled.set()

    def _rank(self, station_id: str) -> int:
        """The settling order: drones in the air first, then those whose telemetry is not
        complete yet (they may be in the air), then those on the ground. Closing a docked
        one serves the queue (a launch, about a second), and pilot commands wait for
        re-adoption."""
        drone = self._fleet.drone(station_id)
        state = drone.state
        if not drone.online or not state.complete:
            return MAYBE_IN_AIR
        return IN_AIR if state.in_air else ON_GROUND

    async def _settle(self, station: Station, sortie_id: int) -> bool:
        """One look at one inherited sortie; True once it is settled."""
        runner = self._runner
        if (await runner.store.drone_sorties()).get(station.drone.id) != sortie_id:
            return True  # released meanwhile
        # A sortie whose last state reads "docked" may still hold its drone: the server
        # died between recording the landing and releasing the drone.
        record = await runner.store.get_sortie(sortie_id)
        if record.policy is not None and record.launched_by is None:
            await runner.expire_inherited(record)
            return True
        drone = self._fleet.drone(station.id)
        look = look_at(drone.state if drone.online else DroneState(), station, self._dock_radius_m)
        if self._noted.get(station.id) != look.detail:
            self._noted[station.id] = look.detail
            log.info("%s: inherited sortie %d: %s", station.id, sortie_id, look.detail)
        if look.finding is Finding.UNSETTLED:
            return False
        call = None if record.call_id is None else await runner.store.get_call(record.call_id)
        if (
            look.finding is Finding.ON_DOCK
            and call is not None
            and station.id in self._taken_over
            and _fresh_reservation(record)
        ):
            log.info("%s: launching sortie %d, reserved elsewhere", station.id, sortie_id)
            await runner.start_reserved(record, call, Principal(record.created_by, Role.DISPATCHER))
            return True
        if look.finding is Finding.AIRBORNE:
            if call is None:
                return False  # nothing to follow it for; settled once it is down
            await runner.adopt(record, call, station)
            return True
        requeue = not reached_scene(record)
        if look.finding is Finding.ON_DOCK:
            await runner.close_inherited(record, station, SortieState.DOCKED, look.detail, requeue)
        else:
            await runner.close_inherited(record, station, SortieState.LANDED, look.detail, requeue)
        return True


def _fresh_reservation(record: SortieRecord) -> bool:
    """A sortie reserved moments ago and never launched."""
    if record.state != "reserved":
        return False
    try:
        created = datetime.fromisoformat(record.created_at)
    except ValueError:
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return (datetime.now(UTC) - created).total_seconds() < FRESH_RESERVATION_S
