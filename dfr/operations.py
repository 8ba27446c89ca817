"""The operations service: what the API and the consoles ask of dfr, in one place.

``async with Operations.running(services, settings) as ops:`` starts the
dispatcher, dock preparation, the sortie runner, the telemetry push and the daily
retention run (`dfr.retention`) over collaborators the composition root opened
(`dfr.services`), and stops them in reverse order. The routers call its methods and
nothing behind it.

Its parts: `Calls` (calls stored, taken from CAD, listed and closed: `ops.calls`),
`Dispatcher` (calls, ranking, reservation, queue), `SortieRunner`
(launch, fly, release, serve the queue), `AutoLaunch` (the deployment's launch
policies, put each new call to), `PilotCommands`, `OfficerRequests` (officers'
"drone to me" and follow me), `EidoIntake` (CAD incidents
as EIDOs), `DockPreparation`,
`push_telemetry`, the `SortieBoard` of active sorties, the `EventBus` to
the consoles, `LiveViews` (what each asker sees of them: `ops.views`), `Records` (the
sorties with their tracks and plans, evidence, the audit log, holds and the public
flight log: `ops.records`) and, with a `[tak]` server, `TakOut` (Cursor on Target from
that bus).

Errors of its own the API maps to HTTP (see `dfr.api.errors`)::

    OperationsError
    ├── NoPurpose            a launch without a call and without a purpose (422)
    ├── WebhooksOff          no webhook secret configured (503)
    ├── BadWebhookToken      a webhook without the right secret (401)
    └── LinkedElsewhere      a pilot command for a drone another server links (409)

and, from who sees what (`dfr.agency_scope`): UnknownStationId (no station with that id,
or none the asker sees: 404) and NotYourAgency (another agency's drone: 403).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, Protocol

from dfr.access import Access
from dfr.active_sorties import ActiveSortie, SortieBoard
from dfr.agency_scope import AgencyScope, NotYourAgency, UnknownStationId
from dfr.auth import Principal, Role
from dfr.auto_launch import AutoLaunch
from dfr.calls import Calls
from dfr.camera_views import covering_views, nearby_views
from dfr.console_views import (
    call_event,
    sortie_event,
)
from dfr.dispatcher import Dispatcher, DispatchResult, StationUnavailable, UnknownStation
from dfr.dock_prep import DockPreparation
from dfr.eido_intake import EidoIntake
from dfr.event_relay import EventRelay
from dfr.events import Event, EventBus
from dfr.flight_errors import CommandNotAllowed, PreflightFailed
from dfr.flight_executor import ExecutorSettings, FlightResult
from dfr.launch_policies import LaunchPolicy
from dfr.launch_requests import LaunchRequests
from dfr.link_leases import LinkLeases, server_id
from dfr.live_views import LiveViews, Peers, VideoStreams, fleet_availability
from dfr.loop_lag import LoopLag
from dfr.officer_requests import NotYourRequest, OfficerRequests
from dfr.overwatch import Overwatch
from dfr.pilot_commands import PilotCommand, PilotCommands
from dfr.purposes import LaunchPurpose
from dfr.recommend import AirborneDrone, DroneAvailability, Recommendation
from dfr.records import Records
from dfr.retention import RetentionJob
from dfr.services import Services
from dfr.settings import Settings
from dfr.sortie_recovery import SortieRecovery
from dfr.sortie_runner import (
    FlightListener,
    LaunchNotPending,
    RetaskFailed,
    SortieRunner,
    SortieVideo,
)
from dfr.sortie_track import record_tracks
from dfr.store import (
    CallRecord,
    Conflict,
    NewCall,
    NotFound,
    SortieRecord,
)
from dfr.tak_out import TakOut
from dfr.telemetry_push import push_telemetry
from missions.geo import GeoPoint
from missions.profile import Station
from missions.route import Fence
from missions.sortie import Cause, SortieState
from stations.drone_link import LinkError
from stations.fleet import Fleet

log = logging.getLogger(__name__)


class OperationsError(Exception):
    """Base of the operations errors."""


class NoPurpose(OperationsError):
    """Every flight is bound to a reason: a call, or a purpose (dfr.purposes)."""


class WebhooksOff(OperationsError):
    pass


class BadWebhookToken(OperationsError):
    pass


class LinkedElsewhere(OperationsError):
    """Several servers share the drones, and another holds this drone's link: pilot
    commands go to that server."""


class VideoService(SortieVideo, VideoStreams, Protocol):
    """The live video side (implemented in the web layer)."""


class Operations:
    def __init__(
        self,
        services: Services,
        settings: Settings,
        board: SortieBoard | None = None,
        video: VideoService | None = None,
        on_flight_ended: FlightListener | None = None,
        executor_settings: ExecutorSettings | None = None,
    ) -> None:
        self.deployment = services.deployment
        self._store = services.store
        self._fleet = services.fleet
        self._telemetry_hz = settings.telemetry_push_hz
        self._recordings_dir = settings.recordings_dir
        self._webhook_token = settings.cad_webhook_token
        self._agency_tokens = {
            agency: token
            for agency, token in settings.agency_webhook_tokens.items()
            if agency in self.deployment.agencies.ids and token
        }
        for agency in set(settings.agency_webhook_tokens) - set(self._agency_tokens):
            log.error("DFR_AGENCY_WEBHOOK_TOKENS: no agency %r here (or no token): ignored", agency)
        self.bus = EventBus()
        self.board = board if board is not None else SortieBoard()
        self.eta = services.eta
        self.dispatcher = Dispatcher(
            self.deployment,
            self._store,
            availability=self._availability,
            drone_eta=self.eta.current,
            airborne=self._airborne,
        )
        self.dock = DockPreparation(
            self._fleet,
            self.deployment.defaults.cruise_alt_m,
            self._on_dock_prepared,
            self.deployment.flight_settings,
            dock_fence=self._dock_fence,
        )
        self.runner = SortieRunner(
            self.deployment,
            self._store,
            self.dispatcher,
            self._fleet,
            self.board,
            self.bus,
            executor_settings or settings.executor_settings(self.deployment.flight_settings),
            prepare_dock=self.dock.start,
            claim_dock=self.dock.claim,
            video=video,
            on_flight_ended=on_flight_ended,
            on_streams_changed=lambda: self.views.publish_streams(),
            learn=self._learn_eta,
            on_scene_s=lambda active: self.overwatch.on_scene_s(active),
        )
        self.overwatch = Overwatch(
            self.deployment,
            self._store,
            self.board,
            self.dispatcher,
            self.bus,
            state=self._fleet.state,
            params=lambda drone_id: self.eta.of(drone_id).params,
            launch=self.runner.start,
            withdraw=self.runner.withdraw,
            serving_changed=lambda call_id: self.views.publish_streams(),
        )
        #: This server's drone-link leases and the events to and from the other servers
        #: on the database, while running on PostgreSQL (both None on SQLite).
        self.peers = Peers()
        self.launch_requests: LaunchRequests | None = None
        self.server_id = settings.server_id or server_id()
        self.recovery = SortieRecovery(
            self.runner, self._fleet, services.fleet.settings.dock_radius_m
        )
        self.commands = PilotCommands(self.deployment, self.board, self._store)
        self.auto_launch = AutoLaunch(
            self.deployment.launch_policies,
            self._store,
            self.board,
            self.bus,
            self.dispatcher.recommend_call,
            self._policy_dispatch,
            self._unready_for_policy,
        )
        self.access = Access(services.users, services.tokens, self._store, services.refusals)
        #: Who sees which calls, drones and records, by agency (dfr.agencies).
        self.scope = AgencyScope(self.deployment, self._store, self.board, self.access.agency_of)
        self.eido = EidoIntake(
            self.deployment.eido,
            self._store,
            self.board,
            self.bus,
            self.retarget_airborne_drone,
            self.dispatcher.with_agency,
        )
        #: The calls: stored, taken from CAD (also as EIDOs), listed, closed.
        self.calls = Calls(
            self._store,
            self.scope,
            self.board,
            self.bus,
            self.dispatcher,
            self.auto_launch,
            self.eido,
            self.overwatch,
        )
        self.officers = OfficerRequests(
            self.deployment.officer_requests,
            self.deployment.planner,
            self._store,
            self.board,
            self.calls.create_call,
        )
        #: The records it serves: sorties, evidence, the audit log, holds, the public log.
        self.records = Records(
            self.deployment,
            self._store,
            self.board,
            self.scope,
            self._recordings_dir,
            settings.audit_signing_key_path,
        )
        self.loop_lag = LoopLag()
        #: What each asker sees of the live system (health, stations, streams, events).
        self.views = LiveViews(
            self.deployment,
            self._fleet,
            self.board,
            self.dock,
            self.scope,
            self.bus,
            self.peers,
            video,
            self.loop_lag,
            self.recovery,
        )
        #: Cursor on Target out, while running with a deployment that has `[tak]`.
        self.tak: TakOut | None = None
        self.retention = RetentionJob(
            self._store,
            self._recordings_dir,
            self.deployment.retention,
            settings.retention_interval_s,
            settings.retention_first_run_s,
        )

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        services: Services,
        settings: Settings,
        board: SortieBoard | None = None,
        video: VideoService | None = None,
        on_flight_ended: FlightListener | None = None,
    ) -> AsyncIterator[Operations]:
        ops = cls(services, settings, board, video, on_flight_ended)
        await ops.dispatcher.start()
        out = await ops._store.out_of_service()
        for station in ops.deployment.stations:
            if station.drone.id in out:
                ops._fleet.set_maintenance(station.id, True)
        async with (
            ops.access.running(),
            ops.runner.running(),
            ops.recovery.running(),
            ops.dock.running(),
            ops._link_leases(settings) as leases,
            ops._event_relay(settings) as relay,
            ops._tak_out(settings) as tak,
            asyncio.TaskGroup() as group,
        ):
            ops.peers.leases = leases
            ops.peers.relay = relay
            if relay is not None and leases is not None:
                ops.launch_requests = LaunchRequests(
                    relay, leases.holder_of, ops._sortie_state, ops._start_requested
                )
            ops.tak = tak
            push = group.create_task(
                push_telemetry(ops.bus, ops.views.drone_views, ops._telemetry_hz),
                name="telemetry push",
            )
            lag = group.create_task(ops.loop_lag.run(), name="loop lag")
            track = group.create_task(
                record_tracks(ops.board, ops._fleet, ops._store), name="flight tracks"
            )
            retention = group.create_task(ops.retention.run(), name="retention")
            overwatch = group.create_task(ops.overwatch.run(), name="overwatch")
            for station in ops.deployment.stations:
                ops.dock.start(station)
            try:
                yield ops
            finally:
                push.cancel()
                lag.cancel()
                track.cancel()
                retention.cancel()
                overwatch.cancel()
                if ops.launch_requests is not None:
                    await ops.launch_requests.close()

    def _link_leases(
        self, settings: Settings
    ) -> contextlib.AbstractAsyncContextManager[LinkLeases | None]:
        """The drones' link leases, on PostgreSQL; none on SQLite (one server links all)."""
        if not self._fleet.leased or settings.database is None:
            return contextlib.nullcontext(None)
        return LinkLeases.running(
            settings.database,
            self.server_id,
            [s.drone.id for s in self.deployment.stations],
            settings.lease_settings(),
            self._took_link,
            self._lost_link,
        )

    def _event_relay(
        self, settings: Settings
    ) -> contextlib.AbstractAsyncContextManager[EventRelay | None]:
        """Events to and from the other servers, on PostgreSQL; none on SQLite."""
        if not self._fleet.leased or settings.database is None:
            return contextlib.nullcontext(None)
        return EventRelay.running(
            settings.database, self.server_id, self.bus, self._links, self._requested
        )

    async def _sortie_state(self, sortie_id: int) -> str:
        return (await self._store.get_sortie(sortie_id)).state

    def _links(self, drone_id: str) -> bool:
        """Whether this server links the drone now."""
        station = next((s for s in self.deployment.stations if s.drone.id == drone_id), None)
        return station is not None and self._fleet.permitted(station.id)

    def _took_link(self, drone_id: str) -> None:
        """This server now holds the drone's lease: link it, settle the sortie another
        server left it flying (dock preparation then serves the queue with it)."""
        station = self._station_of_drone(drone_id)
        self._fleet.permit(station.id)
        self.recovery.take_over(station.id)

    def _lost_link(self, drone_id: str) -> None:
        station = self._station_of_drone(drone_id)
        self.runner.let_go(station.id)
        self._fleet.revoke(station.id)

    def _station_of_drone(self, drone_id: str) -> Station:
        return next(s for s in self.deployment.stations if s.drone.id == drone_id)

    def _tak_out(self, settings: Settings) -> contextlib.AbstractAsyncContextManager[TakOut | None]:
        """Cursor on Target out to the deployment's `[tak]` server; none without one."""
        tak = self.deployment.tak
        if tak is None:
            return contextlib.nullcontext(None)
        return TakOut.running(
            tak, settings.tak_link_settings(), self.bus, self._open_calls, self.deployment.name
        )

    async def _open_calls(self) -> list[CallRecord]:
        return await self._store.list_calls(["new", "queued", "dispatched"])

    @property
    def fleet(self) -> Fleet:
        """The links to the drones (for the composition root and the scenario clock)."""
        return self._fleet

    async def wait_docks_prepared(self, timeout_s: float) -> None:
        """Wait until every drone is online and has its profile's parameters;
        raises TimeoutError."""
        await self.dock.wait_all(timeout_s)

    @property
    def active_sorties(self) -> int:
        """Sorties reserved, waiting for the pilot or flying."""
        return len(self.board)

    # -- webhooks -----------------------------------------------------------------

    def check_webhook(self, token: str | None) -> str | None:
        """The agency whose webhook secret `token` is (None: the deployment's shared
        secret). Raises WebhooksOff or BadWebhookToken unless it is one of them."""
        if self._webhook_token is None and not self._agency_tokens:
            raise WebhooksOff("webhooks are off: set DFR_CAD_WEBHOOK_TOKEN")
        given = (token or "").encode()
        matched: str | None = None
        found = False
        # Every secret is compared, so the time taken says nothing of which matched.
        for agency, secret in self._agency_tokens.items():
            if hmac.compare_digest(given, secret.encode()) and not found:
                matched, found = agency, True
        shared = self._webhook_token
        if shared is not None and hmac.compare_digest(given, shared.encode()) and not found:
            found = True
        if token is None or not found:
            raise BadWebhookToken("missing or wrong X-DFR-Token")
        return matched

    # -- calls and dispatch -------------------------------------------------------

    async def call_cameras(self, call_id: int) -> list[dict[str, Any]]:
        """The fixed cameras whose view covers the call's scene, nearest first (at most
        the deployment's `[cameras] per_call`); raises NotFound."""
        call = await self._store.get_call(call_id)
        scene = GeoPoint(call.latitude_deg, call.longitude_deg)
        return covering_views(self.deployment.cameras, scene, self.deployment.cameras_per_call)

    def cameras_near(self, point: GeoPoint, within_m: float, limit: int) -> list[dict[str, Any]]:
        """The fixed cameras within `within_m` of `point`, nearest first."""
        return nearby_views(self.deployment.cameras, point, within_m, limit)

    async def recommend_call(self, call_id: int) -> Recommendation:
        return await self.dispatcher.recommend_call(call_id)

    async def recommend_point(self, point: GeoPoint) -> Recommendation:
        return await self.dispatcher.recommend(point)

    async def retarget_airborne_drone(self, active: ActiveSortie, scene: GeoPoint) -> bool:
        """Send the drone flying `active` to its call's new scene without landing (an EIDO
        update moved it): a route from where it is, the fence and mission uploaded,
        verified and under way (`FlightExecutor.retarget`); the sortie's route is stored
        for a restart to follow. True when the drone flies there now; False (the pilot's
        alert advises a reposition) when it is not airborne, no route is permitted from
        where it is, or the vehicle did not take the new plan (it then holds)."""
        executor = active.executor
        here = executor.position if executor is not None else None
        if executor is None or here is None or not executor.sortie.airborne:
            return False
        planner = self.deployment.planner
        plan = planner.plan(here, scene, with_fence=False)
        if plan.route is None:
            log.warning("sortie %d: no route to the new scene: %s", active.record.id, plan.reason)
            return False
        route = planner.fenced(plan.route, home=active.station.position)
        try:
            await executor.retarget(route)
        except (CommandNotAllowed, LinkError, PreflightFailed) as exc:
            log.warning("sortie %d: not retargeted: %s", active.record.id, exc)
            return False
        active.route = route
        await self._store.record_sortie_route(active.record.id, route.as_geojson())
        self.bus.publish(sortie_event(active, str(executor.state)))
        return True

    async def cancel_officer_request(self, officer: str, call_id: int) -> CallRecord:
        """The officer who asked for a drone no longer needs it: a launch held for the
        pilot is withdrawn, one still on its dock is aborted, a drone in the air flies
        home, and the call is closed. Raises NotYourRequest, NotFound, Conflict (closed)."""
        subject = f"call:{call_id}"
        async with self._store.attempt(officer, "officer.cancel", subject, audit_accepted=False):
            call = await self._store.get_call(call_id)
            if call.requester != officer:
                raise NotYourRequest(f"call {call_id} is not your request")
            if call.status == "closed":
                raise Conflict(f"call {call_id} is closed")
            why = f"cancelled by officer {officer}, who asked for it"
            for active in self.board.of_call(call_id):
                executor = active.executor
                if executor is None:
                    await self.runner.withdraw(active.record.id, officer, why)
                elif executor.state is SortieState.LAUNCHING:
                    await executor.abort()
                elif executor.state in (SortieState.EN_ROUTE, SortieState.ON_SCENE):
                    await executor.return_home(Cause.DISPATCH, why)
            record = await self._store.set_call_status(call_id, "closed", officer)
            await self._store.audit(officer, "officer.cancel", subject, {"why": why})
        self.bus.publish(call_event(record))
        return record

    async def dispatch(
        self,
        call_id: int,
        who: Principal,
        station_id: str | None = None,
        policy: LaunchPolicy | None = None,
    ) -> DispatchResult:
        """Send a drone to a call: the chosen station's, else the best one's (none free:
        the call is queued). A launch `policy` (`who` is then its actor) never queues a
        call, and launches or holds the drone as the policy's mode says.

        When the best was a drone in flight that did not take the new mission (the
        pilot is alerted, it holds), the call goes to the best drone on its dock instead
        (or is queued), the result saying why in `retask_failed`. A chosen station's
        refusal is the caller's to see: RetaskFailed."""
        try:
            return await self._dispatch(call_id, who, station_id, policy, retask=True)
        except RetaskFailed as exc:
            if station_id is not None:
                raise
            result = await self._dispatch(call_id, who, None, policy, retask=False)
            return replace(result, retask_failed=str(exc))

    async def _dispatch(
        self,
        call_id: int,
        who: Principal,
        station_id: str | None,
        policy: LaunchPolicy | None,
        retask: bool,
    ) -> DispatchResult:
        # Accepted, the store audits the reservation (or the call queued) as it makes it.
        asked: dict[str, Any] = {"station_id": station_id}
        if not retask:
            asked["in_flight"] = False  # after a re-task the vehicle refused
        subject = f"call:{call_id}"
        async with self._store.attempt(
            who.name, "sortie.dispatch", subject, asked, audit_accepted=False
        ):
            result = await self.dispatcher.dispatch(
                call_id,
                who.name,
                station_id,
                queue=policy is None,
                policy=policy.name if policy is not None else None,
                retask=retask,
            )
            if not result.queued or policy is None:
                self.bus.publish(call_event(result.call))
            if result.retasked_from is not None:
                await self.runner.retask(result, who)
            elif not result.queued:
                await self._start(result, who, policy)
        if result.candidate is not None and result.candidate.mutual_aid is not None:
            result = replace(result, call=await self._store.get_call(call_id))  # shared now
        return result

    async def _start(
        self, result: DispatchResult, who: Principal, policy: LaunchPolicy | None
    ) -> None:
        """Launch a reserved sortie: here, or, for a drone another server links, there
        (a request over the relay; that server launches it as this one would)."""
        assert result.sortie is not None
        drone_id = result.sortie.drone_id
        if self.peers.relay is None or self.peers.leases is None or self._links(drone_id):
            await self.runner.start(result, who, policy)
            return
        assert self.launch_requests is not None  # there with the relay
        self.launch_requests.ask(
            result.sortie.id,
            drone_id,
            {
                "who": who.name,
                "role": str(who.role),
                "policy": policy.name if policy is not None else None,
            },
        )

    async def _requested(self, kind: str, data: dict[str, Any]) -> None:
        """A request (or an answer) from another server over the relay."""
        if self.launch_requests is not None:
            await self.launch_requests.received(kind, data)

    async def _start_requested(self, data: dict[str, Any]) -> bool:
        """Launch a sortie another server reserved for a drone this one links; True
        when this server has it (started now or before, or it is settled)."""
        record = await self._store.get_sortie(int(data["sortie_id"]))
        if record.state != "reserved" or self.board.get(record.id) is not None:
            return True  # started, withdrawn or settled meanwhile
        if record.call_id is None or not self._links(record.drone_id):
            return False
        call = await self._store.get_call(record.call_id)
        who = Principal(str(data["who"]), Role(str(data["role"])))
        named = data.get("policy")
        policy = next(
            (p for p in self.deployment.launch_policies.policies if p.name == named), None
        )
        subject = f"sortie:{record.id}"
        async with self._store.attempt(who.name, "sortie.launch", subject, audit_accepted=False):
            await self.runner.start_reserved(record, call, who, policy)
        return True

    def _airborne(self) -> dict[str, AirborneDrone]:
        """Drones flying sorties this server follows, by station id (re-task candidates)."""
        out = {}
        for active in self.board:
            executor = active.executor
            if executor is None or not executor.sortie.airborne:
                continue
            state = self._fleet.state(active.station.id)
            fix, velocity = state.position, state.velocity
            if fix is None or velocity is None or state.battery_pct is None:
                continue
            out[active.station.id] = AirborneDrone(
                sortie_id=active.record.id,
                sortie_state=str(executor.state),
                call_id=active.call.id,
                call_priority=active.call.priority,
                position=fix.point,
                altitude_m=fix.relative_altitude_m,
                velocity_north_m_s=velocity.north_m_s,
                velocity_east_m_s=velocity.east_m_s,
                battery_pct=state.battery_pct,
            )
        return out

    async def _policy_dispatch(
        self, call_id: int, who: Principal, policy: LaunchPolicy, station_id: str
    ) -> DispatchResult:
        return await self.dispatch(call_id, who, station_id, policy)

    def _unready_for_policy(self, station_id: str) -> str | None:
        """A launch nobody clicked takes only a drone whose dock set-up (parameters and
        fence, set and read back) is verified: one being prepared right now could have
        its fence transfer cross the sortie's."""
        if self.peers.relay is not None and not self._fleet.permitted(station_id):
            # Another server links it: as that server last reported it.
            view = self.peers.relay.remote_drone(self.deployment.station(station_id).drone.id)
            if view is not None and view.get("dock_prepared"):
                return None
        if self.dock.setup(station_id) is None:
            return "its dock set-up is not verified yet"
        return None

    async def launch(
        self,
        station_id: str,
        who: Principal,
        call_id: int | None,
        point: GeoPoint | None,
        purpose: LaunchPurpose | None = None,
    ) -> DispatchResult:
        """A pilot's Launch: to a queued call, or to a point for a purpose (stored as a
        new call that carries it). Raises NoPurpose for a point without a purpose, and
        UnknownStation before anything is stored."""
        try:
            self.deployment.station(station_id)
        except KeyError:
            raise UnknownStation(f"no station {station_id!r}") from None
        if call_id is None:
            if point is None:
                raise StationUnavailable("launch needs a call or a point")
            if purpose is None:
                raise NoPurpose("a launch without a call needs a purpose")
            summary = f"launch to a point: {purpose.label}"
            # Not put to the launch policies: it is dispatched right here.
            call = await self.calls.store_call(
                NewCall(
                    point.latitude_deg,
                    point.longitude_deg,
                    1,
                    "map",
                    summary,
                    purpose=str(purpose),
                ),
                who.name,
            )
            call_id = call.id
        return await self.dispatch(call_id, who, station_id)

    async def confirm_launch(self, sortie_id: int, who: Principal) -> SortieRecord:
        """The pilot confirms a held launch: only a pilot of the drone's agency. A drone
        flying into another agency's jurisdiction is audited with both agencies."""
        subject = f"sortie:{sortie_id}"
        async with self._store.attempt(
            who.name, "sortie.launch", subject, audit_accepted=False
        ) as noted:
            if self.deployment.agencies:
                await self._check_confirming_agency(sortie_id, who, noted)
            record = await self.runner.confirm(sortie_id, who)
        if "agencies" in noted:
            await self._store.audit(who.name, "mutual_aid.launch", subject, noted)
        return record

    async def _check_confirming_agency(
        self, sortie_id: int, who: Principal, noted: dict[str, Any]
    ) -> None:
        """Raises NotFound (a sortie `who` does not see) or NotYourAgency; notes both
        agencies of a drone flying into another's jurisdiction."""
        try:
            record = await self.scope.visible_sortie(who, sortie_id)
        except NotFound:
            if who.agencies is None:
                return  # the runner says it is not waiting for a pilot
            raise
        owner = self.deployment.agencies.of_station(record.station_id)
        call = await self._store.get_call(record.call_id) if record.call_id else None
        if call is not None and owner != call.agency:
            noted["agencies"] = [owner, call.agency]
        if who.agencies is not None and owner not in who.agencies:
            raise NotYourAgency(
                f"drone of agency {owner!r}: only that agency's pilot confirms its launch"
            )

    # -- stations, drones ---------------------------------------------------------

    async def command(self, drone_id: str, body: PilotCommand, who: Principal) -> dict[str, Any]:
        """A pilot command to a drone's sortie; `abort` of a launch still waiting for the
        pilot withdraws it (the drone stays on its dock, the call goes back to the
        dispatchers)."""
        station = next((s for s in self.deployment.stations if s.drone.id == drone_id), None)
        if station is not None and not self._fleet.permitted(station.id):
            holder = (
                self.peers.leases.holder_of(drone_id) if self.peers.leases is not None else None
            )
            raise LinkedElsewhere(
                f"drone {drone_id} is linked by server {holder or 'none yet'};"
                " send pilot commands to that server"
            )
        held = self.runner.held(station.id) if station is not None else None
        if body.command != "abort" or held is None:
            return await self.commands.command(drone_id, body, who)
        subject = f"drone:{drone_id}"
        async with self._store.attempt(
            who.name, "command.abort", subject, {"sortie_id": held.record.id}
        ):
            why = f"declined by {who.name} before launch; left for a dispatcher"
            outcome = "declined" if held.policy is not None else None
            try:
                await self.runner.withdraw(held.record.id, who.name, why, outcome)
            except LaunchNotPending:
                # Launched meanwhile (confirmed, or its policy's countdown ran out): abort
                # the flight as any other.
                return await self.commands.command(drone_id, body, who)
        return {
            "drone_id": drone_id,
            "command": body.command,
            "sortie_id": held.record.id,
            "sortie_state": "aborted",
        }

    async def set_maintenance(self, station_id: str, on: bool, who: Principal) -> dict[str, Any]:
        """Take a station's drone out of service, or put it back. Raises UnknownStationId."""
        subject = f"station:{station_id}"
        async with self._store.attempt(who.name, "station.maintenance", subject, {"on": on}):
            try:
                station = self.deployment.station(station_id)
            except KeyError:
                raise UnknownStationId(f"no station {station_id!r}") from None
            reason = f"maintenance by {who.name}" if on else None
            await self.runner.take_out_of_service(station, reason)
        if not on:
            await self.runner.serve_queue(who.name)
        return self.views.drone_view(station)

    def eta_calibration(self, drone_id: str) -> dict[str, Any]:
        """The ETA figures the drone is ranked by: its own once calibrated from its flights,
        else the deployment's. Raises UnknownDrone."""
        return self.eta.view(drone_id)

    # -- inside -------------------------------------------------------------------

    def _dock_fence(self, station: Station) -> Fence:
        drone = station.drone
        reach_m = drone.cruise_speed_m_s * drone.endurance_s / 2.0
        return self.deployment.planner.dock_fence(station.position, reach_m)

    def _availability(self) -> dict[str, DroneAvailability]:
        """The drones this server links as its fleet sees them; those another server
        links as that server last reported them (the store's reservation decides)."""
        available = fleet_availability(self._fleet)
        if self.peers.relay is None:
            return available
        for station in self.deployment.stations:
            if self._fleet.permitted(station.id):
                continue
            view = self.peers.relay.remote_drone(station.drone.id)
            if view is not None:
                available[station.id] = DroneAvailability(
                    online=bool(view["online"]),
                    docked=bool(view["docked"]),
                    healthy=bool(view["healthy"]),
                    maintenance=view["dock_state"] == "maintenance",
                    battery_pct=float(view["battery_pct"] or 0.0),
                )
        return available

    async def _learn_eta(self, active: ActiveSortie, flight: FlightResult) -> None:
        """Refine the drone's ETA figures with the flight (if it flew straight to its scene)."""
        drone = active.station.drone
        learnt = await self.eta.learn(
            drone.id,
            active.record.id,
            active.route,
            drone,
            flight.timeline,
            flight.transitions,
            flight.events,
        )
        if learnt is not None:
            self.bus.publish(Event("eta_calibration", self.eta.view(drone.id)))

    async def _on_dock_prepared(self, station: Station) -> None:
        # Calls survive restarts: a prepared drone may take one that waited.
        await self.runner.serve_queue("system")
