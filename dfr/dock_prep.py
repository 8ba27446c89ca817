"""Dock preparation: each docked drone gets its profile's PX4 parameters before any call
needs them, so a dispatch only uploads and verifies its mission and fence."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from dfr.flight_errors import FlightError
from dfr.vehicle_params import prepare_on_dock
from missions.drone_state import DroneState
from missions.mission_plan import FlightSettings
from missions.profile import Station
from stations.fleet import DroneOffline, Fleet
from stations.link_errors import LinkError

log = logging.getLogger(__name__)


class DockPreparation:
    """One task per station preparing its drone; `on_prepared` runs after each success."""

    def __init__(
        self,
        fleet: Fleet,
        cruise_altitude_m: float,
        on_prepared: Callable[[Station], Awaitable[None]],
        flight: FlightSettings | None = None,
        retry_s: float = 5.0,
    ) -> None:
        self._flight = flight
        self._fleet = fleet
        self._cruise_altitude_m = cruise_altitude_m
        self._on_prepared = on_prepared
        self._retry_s = retry_s
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[DockPreparation]:
        try:
            yield self
        finally:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def start(self, station: Station) -> None:
        """(Re)prepare the station's drone, e.g. once it is back on its dock."""
        previous = self._tasks.get(station.id)
        if previous is not None and not previous.done():
            return
        self._tasks[station.id] = asyncio.create_task(
            self._prepare(station), name=f"dock prep {station.id}"
        )

    async def wait_all(self, timeout_s: float) -> None:
        """Wait until every drone started so far is prepared; raises TimeoutError."""
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*self._tasks.values())

    async def _prepare(self, station: Station) -> None:
        while True:
            try:
                link = await self._fleet.wait_online(station.id, timeout_s=3600.0)
                # Never change parameters of a drone in flight (one found flying after
                # a restart is prepared once it is down).
                await link.wait_for(_on_ground, 3600.0, "on the ground, disarmed")
                await link.wait_ready()
                changed = await prepare_on_dock(
                    link, station.drone, self._cruise_altitude_m, self._flight
                )
                log.info("%s: dock prep done, %d parameter(s) changed", station.id, changed)
                break
            except (LinkError, FlightError, DroneOffline) as exc:
                log.warning("%s: dock prep failed (%s); retrying", station.id, exc)
                await asyncio.sleep(self._retry_s)
        await self._on_prepared(station)


def _on_ground(state: DroneState) -> bool:
    return state.complete and not state.armed and not state.in_air
