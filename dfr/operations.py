"""The operations service: store, dispatcher, fleet, flights, video and the console event feed.

``async with Operations.running(settings) as ops:`` starts everything a server
needs and stops it in reverse order. Each dispatched sortie is flown by a
`FlightExecutor` in a task this service owns; its state changes go to the
store (the sortie's timeline) and to every console. When a sortie ends its
drone is released and the call queue is served.

Errors the API maps to HTTP (see `dfr.api.errors`)::

    OperationsError
    ├── DroneNotFound        no drone with that id (404)
    ├── NotFlying            a pilot command for a drone with no sortie in flight (409)
    ├── LaunchNotPending     confirming a launch that is not waiting for the pilot (409)
    └── BadCommand           a command missing what it needs (422)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from dfr.auth import (
    Principal,
    Role,
    TokenIssuer,
    UserDirectory,
    ensure_demo_users,
    ensure_secret_key,
)
from dfr.console_views import call_event, drone_json, share_link_view, sortie_event
from dfr.deployment import Deployment, load_deployment
from dfr.dispatcher import Dispatcher, DispatchResult, StationUnavailable
from dfr.events import Event, EventBus
from dfr.recommend import Candidate, DroneAvailability
from dfr.settings import Settings
from dfr.store import CallRecord, NewCall, SortieRecord, Store
from missions.executor import (
    ExecutorSettings,
    FlightError,
    FlightExecutor,
    FlightResult,
    prepare_on_dock,
)
from missions.geo import GeoPoint
from missions.sortie import SortieState
from stations.drone_link import LinkError
from stations.fleet import DroneOffline, Fleet, FleetSettings
from stations.profile import Station

log = logging.getLogger(__name__)


class OperationsError(Exception):
    """Base of the operations errors."""


class DroneNotFound(OperationsError):
    pass


class NotFlying(OperationsError):
    pass


class LaunchNotPending(OperationsError):
    pass


class BadCommand(OperationsError):
    pass


SYSTEM = Principal("system", Role.DISPATCHER)


class VideoService(Protocol):
    """What the operations service tells the video side (implemented in the web layer)."""

    def streams(self) -> list[dict[str, Any]]: ...

    async def sortie_started(self, drone_id: str, call_id: int, sortie_id: int) -> None: ...

    async def sortie_ended(self, drone_id: str, sortie_id: int) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class PilotCommand:
    """hold, resume, orbit (radius_m), reposition (point, altitude), return, land, abort."""

    command: str
    radius_m: float | None = None
    point: GeoPoint | None = None
    relative_altitude_m: float | None = None


@dataclass
class ActiveSortie:
    """A sortie this server is flying (or waiting for the pilot to confirm)."""

    record: SortieRecord
    candidate: Candidate
    call: CallRecord
    station: Station
    executor: FlightExecutor | None = None
    task: asyncio.Task[None] | None = None
    launched_by: str | None = None
    launched_at: str | None = None
    persisted: int = 0  # transitions already written to the store


FlightListener = Callable[[ActiveSortie, FlightResult], None]
"""Told of every flight that ended, once its drone is released and the queue served."""


class Operations:
    def __init__(
        self,
        settings: Settings,
        deployment: Deployment,
        store: Store,
        fleet: Fleet,
        users: UserDirectory,
        tokens: TokenIssuer,
        video: VideoService | None = None,
        on_flight_ended: FlightListener | None = None,
    ) -> None:
        self.settings = settings
        self.deployment = deployment
        self.store = store
        self.fleet = fleet
        self.users = users
        self.tokens = tokens
        self.video = video
        self.bus = EventBus()
        self.dispatcher = Dispatcher(deployment, store, availability=self._availability)
        self.executor_settings = ExecutorSettings()
        self.on_flight_ended = on_flight_ended
        self._active: dict[int, ActiveSortie] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._dock_prep_tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        settings: Settings,
        deployment: Deployment | None = None,
        on_flight_ended: FlightListener | None = None,
    ) -> AsyncIterator[Operations]:
        deployment = deployment or load_deployment(settings.deployment)
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        users_file = settings.users_file or settings.state_dir / "users.toml"
        created = ensure_demo_users(users_file) if settings.users_file is None else None
        if created:
            log.warning(
                "created %s with demo users (passwords in %s)",
                users_file,
                settings.state_dir / "demo-passwords.txt",
            )
        secret = settings.secret_key or ensure_secret_key(settings.state_dir / "secret.key")
        tokens = TokenIssuer(secret, settings.session_ttl_s, settings.share_link_ttl_s)
        users = UserDirectory.load(users_file)

        async with contextlib.AsyncExitStack() as stack:
            store = await stack.enter_async_context(Store.open(settings.database_path))
            stations = deployment.stations
            if settings.simulate:
                from sitl.sim_process import simulated_stations

                stations = await stack.enter_async_context(
                    simulated_stations(
                        deployment.stations, settings.sim_speed_factor, settings.sim_port_base
                    )
                )
                deployment = replace(deployment, stations=tuple(stations))
            fleet = await stack.enter_async_context(
                Fleet.running(stations, FleetSettings(link_loss_s=settings.link_lost_after_s))
            )
            ops = cls(
                settings, deployment, store, fleet, users, tokens, on_flight_ended=on_flight_ended
            )
            await ops.dispatcher.start()
            ops._spawn(ops._push_telemetry(), "telemetry push")
            for station in deployment.stations:
                ops._start_dock_prep(station)
            try:
                yield ops
            finally:
                await ops._stop()

    async def wait_docks_prepared(self, timeout_s: float) -> None:
        """Wait until every drone is online and has its profile's parameters;
        raises TimeoutError."""
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*self._dock_prep_tasks.values())

    @property
    def active_sorties(self) -> int:
        """Sorties reserved, waiting for the pilot or flying."""
        return len(self._active)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _stop(self) -> None:
        """Stop following flights; airborne drones carry on (see the flight executor)."""
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- health and views -------------------------------------------------------

    def health(self) -> dict[str, Any]:
        drones = {s.drone.id: self.fleet.drone(s.id).online for s in self.deployment.stations}
        return {"ok": all(drones.values()), "deployment": self.deployment.name, "drones": drones}

    def _availability(self) -> dict[str, DroneAvailability]:
        return fleet_availability(self.fleet)

    def drone_view(self, station: Station) -> dict[str, Any]:
        active = self._active_for_station(station.id)
        return drone_json(station, self.fleet.drone(station.id), active)

    async def stations_view(self) -> list[dict[str, Any]]:
        return [
            {
                "id": st.id,
                "name": st.name,
                "latitude_deg": st.position.latitude_deg,
                "longitude_deg": st.position.longitude_deg,
                "ground_alt_amsl_m": st.ground_alt_amsl_m,
                "drone": self.drone_view(st),
            }
            for st in self.deployment.stations
        ]

    def video_streams(self) -> list[dict[str, Any]]:
        return self.video.streams() if self.video is not None else []

    def streams_event(self) -> Event:
        """The live video streams, as the consoles' stream lists show them."""
        return Event("streams", {"streams": self.video_streams()})

    def publish_streams(self) -> None:
        self.bus.publish(self.streams_event())

    def call_served_by(self, station_id: str) -> CallRecord | None:
        """The call the station's drone is flying for (or about to), if any."""
        active = self._active_for_station(station_id)
        return active.call if active is not None else None

    async def sortie_for_call(self, call_id: int) -> SortieRecord | None:
        sorties = [s for s in await self.store.list_sorties() if s.call_id == call_id]
        return sorties[-1] if sorties else None

    def view_for(self, principal: Principal, event: Event) -> Event | None:
        """What of `event` a console may see: officers on a share link see their call only."""
        if principal.call_id is None:
            return event
        active = next((a for a in self._active.values() if a.call.id == principal.call_id), None)
        return share_link_view(event, principal.call_id, active.station.id if active else None)

    # -- calls and dispatch -----------------------------------------------------

    async def create_call(self, call: NewCall, actor: str) -> CallRecord:
        record = await self.dispatcher.create_call(call, actor)
        self.bus.publish(call_event(record))
        return record

    async def close_call(self, call_id: int, actor: str) -> CallRecord:
        record = await self.store.set_call_status(call_id, "closed", actor)
        self.bus.publish(call_event(record))
        return record

    async def dispatch(
        self, call_id: int, who: Principal, station_id: str | None = None
    ) -> DispatchResult:
        result = await self.dispatcher.dispatch(call_id, who.name, station_id)
        self.bus.publish(call_event(result.call))
        if not result.queued:
            await self._sortie_reserved(result, who)
        return result

    async def launch(
        self, station_id: str, who: Principal, call_id: int | None, point: GeoPoint | None
    ) -> DispatchResult:
        """A pilot's Launch: to a queued call, or to a point (stored as a new call)."""
        if call_id is None:
            if point is None:
                raise StationUnavailable("launch needs a call or a point")
            call = await self.create_call(
                NewCall(point.latitude_deg, point.longitude_deg, 1, "map", "launch to a point"),
                who.name,
            )
            call_id = call.id
        return await self.dispatch(call_id, who, station_id)

    async def _sortie_reserved(self, result: DispatchResult, who: Principal) -> None:
        assert result.sortie is not None
        assert result.candidate is not None
        record = result.sortie
        active = ActiveSortie(
            record, result.candidate, result.call, self.deployment.station(record.station_id)
        )
        self._active[record.id] = active
        if self.deployment.launch_policy == "pilot_confirm" and who.role != Role.PILOT:
            await self.store.record_sortie_state(
                record.id, "awaiting_pilot", f"sent by {who.name}; waiting for the pilot"
            )
            self._publish_sortie(active, "awaiting_pilot")
            return
        await self._start_flight(active, who)

    async def confirm_launch(self, sortie_id: int, who: Principal) -> SortieRecord:
        active = self._active.get(sortie_id)
        if active is None or active.executor is not None:
            raise LaunchNotPending(f"sortie {sortie_id} is not waiting for a pilot")
        await self._start_flight(active, who)
        return await self.store.get_sortie(sortie_id)

    async def _start_flight(self, active: ActiveSortie, who: Principal) -> None:
        record = await self.store.mark_launched(active.record.id, who.name)
        active.launched_by, active.launched_at = record.launched_by, record.launched_at
        if self.video is not None:
            await self.video.sortie_started(active.station.drone.id, active.call.id, record.id)
            self.publish_streams()
        active.executor = FlightExecutor(
            self.fleet.drone(active.station.id),
            active.candidate.route,
            active.station.drone,
            self.deployment.defaults.on_scene_s,
            call_id=str(active.call.id),
            station_id=active.station.id,
            settings=self.executor_settings,
        )
        active.task = self._spawn(self._fly(active), f"sortie {active.record.id}")

    async def _fly(self, active: ActiveSortie) -> None:
        executor = active.executor
        assert executor is not None
        watcher = asyncio.create_task(self._mirror(active), name=f"mirror {active.record.id}")
        try:
            result = await executor.run()
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        await self._persist_transitions(active)
        if self._stopping:
            return
        final = str(result.final_state)
        if self.video is not None:
            manifest = await self.video.sortie_ended(active.station.drone.id, active.record.id)
            self.publish_streams()
            if manifest is not None:
                await self.store.audit(
                    "system", "recording.saved", f"sortie:{active.record.id}", manifest
                )
        self._active.pop(active.record.id, None)
        if result.final_state is SortieState.FAULT:
            # Do not hand the next queued call to a drone that just failed: a person
            # must look at it and put it back in service.
            self.fleet.set_maintenance(active.station.id, True)
            self.bus.publish(
                Event(
                    "alert",
                    {
                        "severity": "critical",
                        "station_id": active.station.id,
                        "drone_id": active.station.drone.id,
                        "call_id": active.call.id,
                        "message": f"sortie {active.record.id} fault: {result.reason}; "
                        "drone taken out of service",
                    },
                )
            )
        served = await self.dispatcher.release(
            active.record.id, final, "system", result.reason or ""
        )
        self._publish_sortie(active, final)
        for next_result in served:  # queued calls this drone can now take
            await self._sortie_reserved(next_result, SYSTEM)
        if not served and result.final_state is not SortieState.FAULT:
            self._start_dock_prep(active.station)
        if self.on_flight_ended is not None:
            self.on_flight_ended(active, result)

    async def _mirror(self, active: ActiveSortie) -> None:
        """Write the executor's transitions to the store and the consoles as they happen."""
        while True:
            await self._persist_transitions(active)
            await asyncio.sleep(0.1)

    async def _persist_transitions(self, active: ActiveSortie) -> None:
        executor = active.executor
        if executor is None:
            return
        transitions = list(executor.sortie.transitions)
        for t in transitions[active.persisted :]:
            await self.store.record_sortie_state(
                active.record.id,
                str(t.to_state),
                f"{t.cause}: {t.detail}".strip(": "),
                t.vehicle_time_s,
            )
            active.persisted += 1
            self._publish_sortie(active, str(t.to_state))

    def _publish_sortie(self, active: ActiveSortie, state: str) -> None:
        self.bus.publish(sortie_event(active, state))

    def _active_for_station(self, station_id: str) -> ActiveSortie | None:
        return next((a for a in self._active.values() if a.station.id == station_id), None)

    async def set_maintenance(self, station_id: str, on: bool, who: Principal) -> dict[str, Any]:
        """Take a station's drone out of service, or put it back."""
        station = self.deployment.station(station_id)
        self.fleet.set_maintenance(station.id, on)
        await self.store.audit(who.name, "station.maintenance", f"station:{station.id}", {"on": on})
        if not on:
            served = await self.dispatcher.serve_queue(who.name)
            for result in served:
                await self._sortie_reserved(result, SYSTEM)
        return self.drone_view(station)

    # -- pilot commands ---------------------------------------------------------

    async def command(self, drone_id: str, body: PilotCommand, who: Principal) -> dict[str, Any]:
        station = next((s for s in self.deployment.stations if s.drone.id == drone_id), None)
        if station is None:
            raise DroneNotFound(f"no drone {drone_id!r}")
        active = self._active_for_station(station.id)
        if active is None or active.executor is None:
            raise NotFlying(f"drone {drone_id} has no sortie in flight")
        ex = active.executor
        details = {"radius_m": body.radius_m, "relative_altitude_m": body.relative_altitude_m}
        if body.point is not None:
            details.update(lat=body.point.latitude_deg, lon=body.point.longitude_deg)
        await self.store.audit(
            who.name,
            f"command.{body.command}",
            f"drone:{drone_id}",
            {k: v for k, v in details.items() if v is not None},
        )
        match body.command:
            case "hold":
                await ex.hold()
            case "resume":
                await ex.resume()
            case "orbit":
                await ex.orbit(body.radius_m or 50.0)
            case "reposition":
                if body.point is None:
                    raise BadCommand("reposition needs latitude_deg and longitude_deg")
                await ex.reposition(body.point, body.relative_altitude_m)
            case "return":
                await ex.return_home()
            case "land":
                await ex.land()
            case "abort":
                await ex.abort()
            case _:
                raise BadCommand(f"unknown command {body.command!r}")
        return {
            "drone_id": drone_id,
            "command": body.command,
            "sortie_id": active.record.id,
            "sortie_state": str(ex.state),
        }

    def _start_dock_prep(self, station: Station) -> None:
        self._dock_prep_tasks[station.id] = self._spawn(
            self._dock_prep(station), f"dock prep {station.id}"
        )

    async def _dock_prep(self, station: Station) -> None:
        """Give a docked drone its profile's parameters before any call needs them."""
        while True:
            try:
                link = await self.fleet.wait_online(station.id, timeout_s=3600.0)
                await link.wait_ready()
                changed = await prepare_on_dock(
                    link, station.drone, self.deployment.defaults.cruise_alt_m
                )
                log.info("%s: dock prep done, %d parameter(s) changed", station.id, changed)
                await self._reclaim(station)
                return
            except (LinkError, FlightError, DroneOffline) as exc:
                log.warning("%s: dock prep failed (%s); retrying", station.id, exc)
                await asyncio.sleep(5.0)

    async def _reclaim(self, station: Station) -> None:
        """After a restart: free a drone an old sortie still holds once it is back on its
        dock, then give the queue its chance (calls survive restarts)."""
        held = (await self.store.drone_sorties()).get(station.drone.id)
        if held is not None and held not in self._active:
            if not self.fleet.availability(station.id).docked:
                log.warning("%s: held by sortie %s and not on its dock", station.id, held)
                return
            await self.store.release(
                held, "docked", "system", "found on its dock when the server started"
            )
        for result in await self.dispatcher.serve_queue("system"):
            await self._sortie_reserved(result, SYSTEM)

    # -- telemetry --------------------------------------------------------------

    async def _push_telemetry(self) -> None:
        period_s = 1.0 / self.settings.telemetry_push_hz
        while True:
            drones = [self.drone_view(s) for s in self.deployment.stations]
            at = datetime.now(UTC).isoformat(timespec="milliseconds")
            self.bus.publish(Event("telemetry", {"at": at, "drones": drones}))
            await asyncio.sleep(period_s)


def fleet_availability(fleet: Fleet) -> dict[str, DroneAvailability]:
    """The fleet's live view of each station's drone, as the dispatcher ranks by it."""
    return {
        a.station_id: DroneAvailability(
            online=a.online,
            docked=a.docked,
            healthy=a.healthy,
            maintenance=a.maintenance,
            battery_pct=a.battery_pct if a.battery_pct is not None else 0.0,
        )
        for a in fleet.availabilities().values()
    }
