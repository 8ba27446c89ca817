"""Dock preparation: each docked drone gets its profile's PX4 parameters and its
station's fence before any call needs them, so a dispatch only uploads its mission.

What was set and read back is kept as a `DockedSetup` and watched while the drone
sits on its dock: a vehicle that restarted, a fence that changed (its checksum in
MISSION_CURRENT) or a parameter someone changed (PX4 announces every change in a
PARAM_VALUE) is prepared again. A dispatch asks the set-up for `doubt` first and
falls back to uploading whatever is in doubt, so a stale set-up costs time, never
safety.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from dfr.flight_errors import FlightError, PreflightFailed
from dfr.vehicle_params import dock_params, sync_params
from missions.drone_state import DroneState
from missions.mission_plan import (
    FlightSettings,
    MissionItem,
    ParamSetting,
    ParamType,
    build_fence,
    item_differences,
    transfer_checksum,
)
from missions.profile import Station
from missions.route import Fence
from stations.drone_link import DroneLink
from stations.fleet import DroneOffline, Fleet
from stations.link_errors import LinkError

log = logging.getLogger(__name__)

#: PARAM_VALUE reaches dfr with about five significant digits.
ANNOUNCED_REL_TOLERANCE = 1e-4


@dataclass(frozen=True, slots=True)
class DockedSetup:
    """What dock preparation set on a drone and read back: parameters and fence."""

    link: DroneLink
    params: tuple[ParamSetting, ...]
    fence: Fence
    fence_items: tuple[MissionItem, ...]
    fence_read_back: tuple[MissionItem, ...]
    #: The vehicle's clock when it was verified: a smaller one later means a restart.
    verified_at_vehicle_s: float
    fence_checksum: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fence_checksum", transfer_checksum(self.fence_items))

    def doubt(self, link: DroneLink) -> str | None:
        """Why the vehicle may no longer hold this set-up; None when it does."""
        state = link.state
        if link is not self.link:
            return "the drone has reconnected since"
        if state.vehicle_time_s is None or state.vehicle_time_s < self.verified_at_vehicle_s:
            return "the vehicle has restarted since"
        if state.fence_checksum != self.fence_checksum:
            return "the fence the vehicle reports is not this one"
        for setting in self.params:
            heard = link.announced_param(setting.name)
            if heard is not None and not _announced_matches(setting, heard):
                return f"{setting.name} was changed to {heard:g}"
        return None


class DockPreparation:
    """One task per station preparing its drone; `on_prepared` runs after each success."""

    def __init__(
        self,
        fleet: Fleet,
        cruise_altitude_m: float,
        on_prepared: Callable[[Station], Awaitable[None]],
        flight: FlightSettings | None = None,
        retry_s: float = 5.0,
        dock_fence: Callable[[Station], Fence] | None = None,
    ) -> None:
        self._flight = flight or FlightSettings()
        self._fleet = fleet
        self._cruise_altitude_m = cruise_altitude_m
        self._on_prepared = on_prepared
        self._retry_s = retry_s
        self._dock_fence = dock_fence or (lambda station: Fence())
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._setups: dict[str, DockedSetup] = {}
        self._prepared: dict[str, asyncio.Event] = {}

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
        self._prepared.setdefault(station.id, asyncio.Event()).clear()
        self._setups.pop(station.id, None)
        self._tasks[station.id] = asyncio.create_task(
            self._prepare(station), name=f"dock prep {station.id}"
        )

    def setup(self, station_id: str) -> DockedSetup | None:
        """The set-up verified on the station's drone now (None while being prepared)."""
        return self._setups.get(station_id)

    def claim(self, station_id: str) -> DockedSetup | None:
        """A sortie takes the station's drone: stop preparing and watching it (nothing
        here touches the vehicle until `start` again) and hand over the set-up it holds,
        if one was verified (ask it for `doubt`)."""
        task = self._tasks.pop(station_id, None)
        if task is not None:
            task.cancel()
        return self._setups.pop(station_id, None)

    async def wait_all(self, timeout_s: float) -> None:
        """Wait until every drone started so far is prepared; raises TimeoutError."""
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*(e.wait() for e in self._prepared.values()))

    async def _prepare(self, station: Station) -> None:
        while True:
            try:
                link = await self._fleet.wait_online(station.id, timeout_s=3600.0)
                # Never change parameters of a drone in flight (one found flying after
                # a restart is prepared once it is down).
                await link.wait_for(_on_ground, 3600.0, "on the ground, disarmed")
                await link.wait_ready()
                setup = await self._set_up(link, station)
                self._setups[station.id] = setup
                self._prepared[station.id].set()
                await self._on_prepared(station)
                reason = await self._watch(link, setup)
                if reason is None:
                    return  # launched: the sortie's end prepares it again
                log.info("%s: preparing again: %s", station.id, reason)
                self._setups.pop(station.id, None)
            except (LinkError, FlightError, DroneOffline) as exc:
                self._setups.pop(station.id, None)
                log.warning("%s: dock prep failed (%s); retrying", station.id, exc)
                await asyncio.sleep(self._retry_s)

    async def _set_up(self, link: DroneLink, station: Station) -> DockedSetup:
        params = dock_params(link, station.drone, self._cruise_altitude_m, self._flight)
        changed = await sync_params(link, params)
        fence = self._dock_fence(station)
        items = build_fence(fence)
        if link.state.fence_checksum != transfer_checksum(items):
            await link.upload_fence(items)
        read_back = await link.download_fence()
        if diffs := item_differences(items, read_back):
            raise PreflightFailed(f"dock fence did not verify: {'; '.join(map(str, diffs))}")
        log.info(
            "%s: dock prep done, %d parameter(s) changed, %d fence items",
            station.id,
            changed,
            len(items),
        )
        return DockedSetup(
            link, params, fence, items, tuple(read_back), link.state.vehicle_time_s or 0.0
        )

    async def _watch(self, link: DroneLink, setup: DockedSetup) -> str | None:
        """Until the drone launches (None) or the set-up is in doubt (the reason)."""

        def done(state: DroneState) -> bool:
            return bool(state.armed) or state.in_air or setup.doubt(link) is not None

        await link.wait_for(done, math.inf, "launch or a changed set-up")
        if link.state.armed or link.state.in_air:
            return None
        return setup.doubt(link)


def _on_ground(state: DroneState) -> bool:
    return state.complete and not state.armed and not state.in_air


def _announced_matches(setting: ParamSetting, heard: float) -> bool:
    if setting.type is ParamType.INT32:
        return setting.matches(heard)
    return math.isclose(setting.value, heard, rel_tol=ANNOUNCED_REL_TOLERANCE, abs_tol=1e-6)
