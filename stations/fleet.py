"""The fleet: every station's drone connected, watched and reconnected, with its dock state.

``async with Fleet.running(stations, settings) as fleet:`` opens one drone link
per station concurrently and keeps each one alive: a link that cannot connect
is retried, a link whose telemetry stops for `link_loss_s` is marked down (the
vehicle's own failsafe handles the flight), and a link whose mavsdk_server died
is replaced. `fleet.availability(station_id)` is a pure snapshot the dispatcher
ranks stations with.

A fleet that is `leased` (several servers sharing the drones) links a drone only
while it is `permit`ted to: the server holds that drone's lease. `revoke` drops the
link at once (without commanding the vehicle), so another server may take it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from missions.drone_state import DroneState
from missions.profile import Station
from stations.drone_link import ConnectTimeout, DroneLink, LinkError, LinkSettings

log = logging.getLogger(__name__)


class DockState(StrEnum):
    DOCKED = "docked"  # on its dock, charged
    CHARGING = "charging"  # on its dock, below the charged threshold
    AIRBORNE = "airborne"  # armed or in the air
    AWAY = "away"  # on the ground, but not on its dock
    MAINTENANCE = "maintenance"  # taken out of service by a person
    UNKNOWN = "unknown"  # no telemetry yet


class DroneOffline(Exception):
    """The station's drone has no usable link right now."""


#: Why a leased fleet's drone has no link: another server holds its lease.
LINKED_ELSEWHERE = "linked by another server"


@dataclass(frozen=True, slots=True)
class FleetSettings:
    link: LinkSettings = field(default_factory=LinkSettings)
    #: No telemetry for this long and the link counts as lost.
    link_loss_s: float = 1.5
    #: How often each drone's link freshness is checked.
    watch_interval_s: float = 0.2
    #: Wait between connection attempts to an unreachable drone.
    reconnect_delay_s: float = 1.0
    #: A drone within this distance of its station (and on the ground) is on its dock.
    dock_radius_m: float = 15.0
    #: Below this charge a docked drone counts as charging.
    charged_pct: float = 95.0


@dataclass(frozen=True, slots=True)
class Availability:
    """What the dispatcher needs of one station's drone, at one instant."""

    station_id: str
    drone_id: str
    online: bool
    docked: bool
    dock_state: DockState
    healthy: bool
    maintenance: bool
    battery_pct: float | None
    telemetry_age_s: float | None
    last_telemetry_utc: datetime | None
    reason: str | None = None


@dataclass
class FleetDrone:
    """One station's drone as the fleet tracks it (mutable, owned by the fleet)."""

    station: Station
    settings: FleetSettings
    link: DroneLink | None = None
    link_up: bool = False
    maintenance: bool = False
    last_error: str | None = None
    last_telemetry_utc: datetime | None = None
    link_lost_count: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    telemetry_flowing: asyncio.Event = field(default_factory=asyncio.Event)
    #: Whether this server may link the drone (always, unless the fleet is leased).
    permitted: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def station_id(self) -> str:
        return self.station.id

    @property
    def state(self) -> DroneState:
        return DroneState() if self.link is None else self.link.state

    @property
    def online(self) -> bool:
        return self.link is not None and not self.link.closed and self.link_up

    async def wait_link(self, timeout_s: float) -> DroneLink:
        """The current link, waiting up to `timeout_s` for one. Raises DroneOffline."""
        try:
            async with asyncio.timeout(timeout_s):
                while self.link is None or self.link.closed:
                    if self.connected.is_set():
                        # A dead link the supervisor has not replaced yet.
                        await asyncio.sleep(self.settings.watch_interval_s)
                    else:
                        await self.connected.wait()
        except TimeoutError as exc:
            raise DroneOffline(f"{self.station_id}: no link within {timeout_s:g} s") from exc
        return self.link

    def dock_state(self) -> DockState:
        if self.maintenance:
            return DockState.MAINTENANCE
        state = self.state
        if not state.complete:
            return DockState.UNKNOWN
        if state.armed or state.in_air:
            return DockState.AIRBORNE
        here = state.position
        if here is None:
            return DockState.UNKNOWN
        if here.point.distance_m(self.station.position) > self.settings.dock_radius_m:
            return DockState.AWAY
        if state.battery_pct is not None and state.battery_pct < self.settings.charged_pct:
            return DockState.CHARGING
        return DockState.DOCKED

    def availability(self) -> Availability:
        state = self.state
        dock = self.dock_state()
        online = self.online
        healthy = state.health.all_ok
        reason = None
        if not online:
            reason = f"offline: {self.last_error or 'no telemetry'}"
        elif dock is DockState.MAINTENANCE:
            reason = "maintenance"
        elif not healthy:
            reason = "health checks failing"
        age = None if self.link is None else self.link.telemetry_age_s
        return Availability(
            station_id=self.station.id,
            drone_id=self.station.drone.id,
            online=online,
            docked=dock in (DockState.DOCKED, DockState.CHARGING),
            dock_state=dock,
            healthy=healthy,
            maintenance=self.maintenance,
            battery_pct=state.battery_pct,
            telemetry_age_s=age,
            last_telemetry_utc=self.last_telemetry_utc,
            reason=reason,
        )


class Fleet:
    """All drones of a deployment. Create with `Fleet.running(...)`."""

    def __init__(
        self, stations: Sequence[Station], settings: FleetSettings, leased: bool = False
    ) -> None:
        self.settings = settings
        self.leased = leased
        self._drones = {s.id: FleetDrone(s, settings) for s in stations}
        for drone in self._drones.values():
            if leased:
                drone.last_error = LINKED_ELSEWHERE
            else:
                drone.permitted.set()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        stations: Iterable[Station],
        settings: FleetSettings | None = None,
        leased: bool = False,
    ) -> AsyncIterator[Fleet]:
        """Connect every drone (in the background) and keep the links up until exit;
        `leased`: only the drones `permit`ted, while they are.

        Does not wait for any drone: an unreachable one is simply offline.
        Leaving the block closes the links and does not command any vehicle.
        """
        fleet = cls(tuple(stations), settings or FleetSettings(), leased)
        tasks = [
            asyncio.create_task(fleet._supervise(drone), name=f"fleet {drone.station_id}")
            for drone in fleet._drones.values()
        ]
        try:
            yield fleet
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            for task in tasks:
                if not task.cancelled() and task.exception() is not None:
                    log.error("fleet supervisor failed", exc_info=task.exception())

    @property
    def station_ids(self) -> tuple[str, ...]:
        return tuple(self._drones)

    def drone(self, station_id: str) -> FleetDrone:
        """Raises KeyError for an unknown station."""
        return self._drones[station_id]

    def link(self, station_id: str) -> DroneLink:
        """The station's live link. Raises DroneOffline."""
        drone = self._drones[station_id]
        if drone.link is None or drone.link.closed:
            raise DroneOffline(f"{station_id}: {drone.last_error or 'not connected'}")
        return drone.link

    def state(self, station_id: str) -> DroneState:
        return self._drones[station_id].state

    def availability(self, station_id: str) -> Availability:
        return self._drones[station_id].availability()

    def availabilities(self) -> dict[str, Availability]:
        return {sid: drone.availability() for sid, drone in self._drones.items()}

    def permitted(self, station_id: str) -> bool:
        """Whether this server may link the station's drone now."""
        return self._drones[station_id].permitted.is_set()

    def permit(self, station_id: str) -> None:
        """Link the station's drone (this server took its lease)."""
        self._drones[station_id].permitted.set()

    def revoke(self, station_id: str) -> None:
        """Drop the station's drone's link within a watch interval, commanding nothing
        (this server no longer holds its lease)."""
        drone = self._drones[station_id]
        drone.permitted.clear()
        if drone.link is not None:
            log.warning("%s: lease lost, dropping the link", station_id)

    def set_maintenance(self, station_id: str, maintenance: bool) -> None:
        self._drones[station_id].maintenance = maintenance

    async def wait_online(self, station_id: str, timeout_s: float) -> DroneLink:
        """Wait until the station's drone is connected and its telemetry flows."""
        drone = self._drones[station_id]
        try:
            async with asyncio.timeout(timeout_s):
                while not drone.online:
                    if drone.telemetry_flowing.is_set():
                        # Flowing, but on a link that just died: wait for the next one.
                        await asyncio.sleep(self.settings.watch_interval_s)
                    else:
                        await drone.telemetry_flowing.wait()
        except TimeoutError as exc:
            raise DroneOffline(f"{station_id}: not online within {timeout_s:g} s") from exc
        assert drone.link is not None
        return drone.link

    async def _supervise(self, drone: FleetDrone) -> None:
        """Connect, watch, reconnect: forever, until cancelled."""
        profile = drone.station.drone
        while True:
            if not drone.permitted.is_set():
                drone.last_error = LINKED_ELSEWHERE
                await drone.permitted.wait()
            try:
                link = await DroneLink.open(profile.id, profile.mavlink, self.settings.link)
            except LinkError as exc:
                drone.last_error = str(exc)
                if not isinstance(exc, ConnectTimeout):
                    log.warning("%s: connect failed: %s", drone.station_id, exc)
                await asyncio.sleep(self.settings.reconnect_delay_s)
                continue
            drone.link, drone.last_error = link, None
            drone.connected.set()
            log.info("%s: link to %s open", drone.station_id, profile.mavlink)
            try:
                await self._watch(drone, link)
            finally:
                drone.connected.clear()
                drone.telemetry_flowing.clear()
                drone.link_up = False
                await link.close()
                drone.link = None
            await asyncio.sleep(self.settings.reconnect_delay_s)

    async def _watch(self, drone: FleetDrone, link: DroneLink) -> None:
        """Track telemetry freshness until the link fails for good.

        A link is judged from its own messages' arrival: when this loop itself woke
        late (the server was busy), messages that arrived meanwhile may not have been
        read yet, so a down verdict waits for one punctual look.
        """
        late = False
        while not link.closed and drone.permitted.is_set():
            age = link.telemetry_age_s
            up = age is not None and age <= self.settings.link_loss_s
            if late and not up and drone.link_up:
                up = True  # not a verdict: look again once the loop has caught up
            if up and age is not None:
                drone.last_telemetry_utc = datetime.fromtimestamp(time.time() - age, UTC)
            if up != drone.link_up:
                drone.link_up = up
                if up:
                    drone.telemetry_flowing.set()
                    drone.last_error = None
                    log.info("%s: telemetry flowing", drone.station_id)
                else:
                    drone.telemetry_flowing.clear()
                    drone.link_lost_count += 1
                    drone.last_error = f"no telemetry for {self.settings.link_loss_s:g} s"
                    log.warning("%s: link lost", drone.station_id)
            asked = time.monotonic()
            await asyncio.sleep(self.settings.watch_interval_s)
            late = time.monotonic() - asked > 2 * self.settings.watch_interval_s
        drone.last_error = str(link.failure) if link.closed else LINKED_ELSEWHERE
