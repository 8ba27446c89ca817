"""The flight executor: one sortie from the dock to the scene and back, with pilot commands.

`FlightExecutor.run()` applies the drone's PX4 parameters and reads them back,
uploads the fence and the mission and reads both back (all of it once more when the
vehicle did not answer in time), arms, starts the
mission (confirming MISSION mode, retrying within the vehicle's auto-disarm
window), then follows the flight through `SortieTracker` until the drone is
back on the ground. Pilot commands (hold, resume, orbit, reposition, return,
land, abort) may come from other tasks at any time while it runs. There is no
"terminate": abort means return home.

Shutdown (decided here, and only here): when dfr stops, or the task running
`run()` is cancelled, the executor sends nothing to the vehicle. An airborne
drone carries on with its uploaded mission (loiter on scene, then the
mission's NAV_RETURN_TO_LAUNCH) and, once it has not heard dfr for the
deployment's link-loss timeout (COM_DL_LOSS_T), does the deployment's
link-loss action (NAV_DLL_ACT, return by default). It is never landed or
disarmed because a server stopped. A drone still on the ground is left to PX4,
which disarms an armed vehicle that does not take off. A server that starts
while the drone flies takes the flight over with `FlightExecutor.adopting`
(see `dfr.sortie_recovery`).

Errors: `dfr.flight_errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dfr.dock_prep import DockedSetup
from dfr.flight_errors import CommandNotAllowed, PreflightFailed
from dfr.vehicle_params import sync_params
from missions.drone_state import DroneState, FlightMode, Severity
from missions.geo import GeoPoint
from missions.mission_plan import (
    FlightSettings,
    MissionItem,
    MissionPlan,
    ParamSetting,
    build_mission,
    item_differences,
    transfer_checksum,
)
from missions.profile import DroneProfile
from missions.route import Route
from missions.sortie import Cause, Sortie, SortieEvent, SortieState, SortieTimeline, Transition
from missions.sortie_tracker import SortieMeasurement, SortieTracker, TrackerSettings
from stations.drone_link import (
    CommandRefused,
    CommandTimeout,
    DroneLink,
    LinkClosed,
    LinkError,
    TransferFailed,
    WaitTimeout,
)
from stations.fleet import DroneOffline, FleetDrone

log = logging.getLogger(__name__)
S = SortieState


@dataclass(frozen=True, slots=True)
class ExecutorSettings:
    flight: FlightSettings = field(default_factory=FlightSettings)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    ready_timeout_wall_s: float = 30.0
    #: Vehicle seconds within which the vehicle must accept the mission start.
    mission_start_window_vehicle_s: float = 8.0
    #: Vehicle seconds between start attempts: right after an upload PX4 answers
    #: "Mission start denied! No valid mission" until its navigator has checked the
    #: mission (a few hundred milliseconds on the first mission after boot).
    start_retry_vehicle_s: float = 0.1
    #: How long an upload waits for the vehicle's checksum before reading back instead.
    checksum_wait_wall_s: float = 0.5
    #: Tries of the pre-launch transfers (parameters, fence, mission) when the vehicle
    #: did not answer in time or a transfer broke off: nothing has armed yet, and a
    #: busy link or server is no reason to take the nearest drone out of service.
    upload_attempts: int = 2
    #: Wall-clock backstop for the whole start dance.
    mission_start_timeout_wall_s: float = 15.0
    #: No telemetry for this long during a sortie and the link counts as lost.
    link_loss_wall_s: float = 1.5
    #: How long to wait for the fleet to bring a dead link back.
    relink_timeout_wall_s: float = 60.0
    #: Stop following a sortie after this long (wall); None: the drone's endurance.
    sortie_timeout_wall_s: float | None = None
    orbit_speed_m_s: float = 5.0
    #: After a refusal, how long to wait for the vehicle's explanation (wall).
    complaint_wait_wall_s: float = 0.5


@dataclass(frozen=True, slots=True)
class FlightResult:
    """How a sortie went."""

    final_state: SortieState
    reason: str | None
    timeline: SortieTimeline
    measurement: SortieMeasurement
    transitions: tuple[Transition, ...]
    events: tuple[SortieEvent, ...]


class FlightExecutor:
    """Flies one sortie. `drone` is a link, or a fleet entry (which survives reconnects)."""

    def __init__(
        self,
        drone: DroneLink | FleetDrone,
        route: Route,
        profile: DroneProfile,
        on_scene_s: float | None,
        call_id: str,
        station_id: str | None = None,
        settings: ExecutorSettings | None = None,
        docked: DockedSetup | None = None,
    ) -> None:
        self.settings = settings or ExecutorSettings()
        self.route = route
        self.profile = profile
        self.plan: MissionPlan = build_mission(route, profile, on_scene_s, self.settings.flight)
        if station_id is None:
            station_id = drone.station_id if isinstance(drone, FleetDrone) else profile.id
        self.sortie = Sortie(call_id, station_id)
        # The dock: the station's, as a route re-planned in flight starts in the air.
        dock = drone.station.position if isinstance(drone, FleetDrone) else None
        self.tracker = SortieTracker(self.sortie, self.plan, route, self.settings.tracker, dock)
        self._drone = drone
        self._link: DroneLink | None = drone if isinstance(drone, DroneLink) else drone.link
        self._changed = asyncio.Event()
        self._seen_transitions = 0
        self._abort_requested = False
        self._started = False
        self._launched = False
        self._adopted = False
        #: What went to the vehicle and what it gave back, by kind ("mission", "fence")
        #: and direction ("uploaded", "read_back"); empty until the upload.
        self.transfers: dict[str, dict[str, tuple[MissionItem, ...]]] = {}
        self._docked = docked
        self._fence_record: tuple[tuple[MissionItem, ...], tuple[MissionItem, ...]] = ((), ())
        self._mission_back: tuple[MissionItem, ...] | None = None
        self._read_back: asyncio.Task[None] | None = None
        #: Bumped whenever `transfers` changes (the first upload, each retarget).
        self.transfers_version = 0
        self.retargets = 0
        self._retargeting = asyncio.Lock()

    @classmethod
    def adopting(
        cls,
        drone: FleetDrone,
        route: Route,
        profile: DroneProfile,
        on_scene_s: float | None,
        call_id: str,
        recorded_state: SortieState,
        settings: ExecutorSettings | None = None,
    ) -> FlightExecutor:
        """An executor for a sortie already flying when this server started: `run()`
        launches nothing and follows the flight from `recorded_state` (the state the
        store last holds) and what the vehicle reports; pilot commands work at once."""
        executor = cls(drone, route, profile, on_scene_s, call_id, drone.station_id, settings)
        executor.sortie.state = recorded_state
        executor._adopted = executor._launched = True
        return executor

    @property
    def state(self) -> SortieState:
        return self.sortie.state

    @property
    def position(self) -> GeoPoint | None:
        """Where the drone is, as it last reported (None without a fix or a link)."""
        fix = self._link.state.position if self._link is not None else None
        return fix.point if fix is not None else None

    async def wait_for_state(self, *states: SortieState, timeout_s: float) -> SortieState:
        """Wait until the sortie is in one of `states`. Raises TimeoutError."""
        async with asyncio.timeout(timeout_s):
            while self.sortie.state not in states:
                changed = self._changed
                await changed.wait()
        return self.sortie.state

    def _advance(
        self, to: SortieState, cause: Cause, detail: str, vehicle_s: float | None, wall: datetime
    ) -> None:
        self.sortie.advance(to, cause, detail, vehicle_s, wall)
        self._notify_if_changed()

    def _notify_if_changed(self) -> None:
        if len(self.sortie.transitions) != self._seen_transitions:
            for step in self.sortie.transitions[self._seen_transitions :]:
                log.info(
                    "sortie %s (%s): %s -> %s, %s: %s",
                    self.sortie.call_id,
                    self.sortie.station_id,
                    step.from_state,
                    step.to_state,
                    step.cause,
                    step.detail,
                )
            self._seen_transitions = len(self.sortie.transitions)
            self._changed.set()
            self._changed = asyncio.Event()

    # --- the sortie ------------------------------------------------------------------

    async def run(self) -> FlightResult:
        """Fly the sortie and return when the drone is on the ground again (or it failed).

        A preflight failure ends the sortie in FAULT (the drone is disarmed if it was
        armed on the ground) rather than raising, and so does a drone with no usable
        link before the sortie begins: it never raises for the vehicle's sake.
        """
        if self._started:
            raise RuntimeError("a FlightExecutor runs once")
        self._started = True
        try:
            return await self._run()
        finally:
            self._notify_if_changed()

    async def _run(self) -> FlightResult:
        if self._adopted:
            return await self._adopt()
        try:
            link = await self._current_link(self.settings.ready_timeout_wall_s)
            state = await link.wait_for(
                lambda s: s.vehicle_time_s is not None,
                self.settings.ready_timeout_wall_s,
                "telemetry",
            )
        except (LinkError, DroneOffline) as exc:
            # Nothing was sent to the vehicle: it is still on its dock.
            reason = f"no usable link before launch: {exc}"
            self._advance(S.LAUNCHING, Cause.DISPATCH, f"call {self.sortie.call_id}", None, _now())
            self._advance(S.FAULT, Cause.LINK, reason, None, _now())
            return self.result()
        self.tracker.start(state)
        self._advance(S.LAUNCHING, Cause.DISPATCH, f"call {self.sortie.call_id}", *_when(state))
        try:
            await self._launch(link)
        except (LinkError, PreflightFailed) as exc:
            await self._end_on_ground(link, exc)
            return self.result()
        return await self._follow()

    async def _adopt(self) -> FlightResult:
        """Take over the flight from the vehicle's mode and mission progress."""
        try:
            link = await self._current_link(self.settings.ready_timeout_wall_s)
            state = await link.wait_for(
                lambda s: s.complete, self.settings.ready_timeout_wall_s, "telemetry"
            )
        except (LinkError, DroneOffline) as exc:
            self._fault(f"could not take the flight over: {exc}", Cause.LINK)
            return self.result()
        self.tracker.adopt(state, _now())
        self._record(
            "adopted",
            Cause.LINK,
            f"taken over after a restart: {state.flight_mode}, mission item"
            f" {state.mission_current} of {state.mission_total}",
        )
        self._notify_if_changed()
        return await self._follow()

    async def _follow(self) -> FlightResult:
        """Follow the flight until the drone is on the ground (or lost)."""
        limit = self.settings.sortie_timeout_wall_s or self.profile.endurance_s
        try:
            async with asyncio.timeout(limit):
                await self._track()
        except TimeoutError:
            self._fault(f"no landing within {limit:g} s; stopped following", Cause.TELEMETRY)
        except (LinkError, DroneOffline) as exc:
            self._fault(f"lost the drone: {exc}; the vehicle's failsafe acts", Cause.LINK)
        if self._read_back is not None:
            # Bounded by the link's transfer timeout; it records its own failure.
            with contextlib.suppress(LinkError):
                await self._read_back
        return self.result()

    def fail(self, reason: str) -> FlightResult:
        """End the sortie in FAULT from whatever state it is in (for its owner, when
        `run()` failed in a way nothing here foresaw); the vehicle is not commanded."""
        if self.sortie.state is S.DOCKED:
            self._advance(S.LAUNCHING, Cause.DISPATCH, f"call {self.sortie.call_id}", None, _now())
        self._fault(reason, Cause.TELEMETRY)
        return self.result()

    def result(self) -> FlightResult:
        return FlightResult(
            final_state=self.sortie.state,
            reason=self.sortie.reason,
            timeline=self.sortie.timeline(),
            measurement=self.tracker.measurement(),
            transitions=tuple(self.sortie.transitions),
            events=tuple(self.sortie.events),
        )

    async def _launch(self, link: DroneLink) -> None:
        await link.wait_ready(self.settings.ready_timeout_wall_s)
        self._check_abort()
        docked = self._docked
        doubt = docked.doubt(link) if docked is not None else "no set-up verified on the dock"
        if docked is not None and doubt is None and not docked.fence.covers(self.route.fence):
            doubt = "the route passes zones the dock fence does not hold"
        if doubt is not None:
            self._record("dock_setup_not_used", Cause.PREFLIGHT, doubt)
        params = self.plan.params
        if docked is not None and doubt is None:
            params = tuple(p for p in params if p not in docked.params)
        for attempt in range(1, self.settings.upload_attempts + 1):
            try:
                await self._prepare(link, params, None if doubt is not None else docked)
                break
            except (CommandTimeout, TransferFailed) as exc:
                if attempt == self.settings.upload_attempts:
                    raise
                self._record("upload_retried", Cause.PREFLIGHT, f"{exc}; trying again")
                self._check_abort()
        self._check_abort()
        self.tracker.expect(FlightMode.MISSION)
        await self._start_mission(link)
        self._launched = True
        self._read_back = asyncio.create_task(self._read_back_mission(link))

    async def _prepare(
        self, link: DroneLink, params: tuple[ParamSetting, ...], docked: DockedSetup | None
    ) -> None:
        """Parameters and plan uploaded and verified. They use separate MAVLink
        protocols: done side by side, as every round trip here delays the launch."""
        try:
            async with asyncio.TaskGroup() as tg:
                if params:
                    tg.create_task(self._apply_params(link, params))
                tg.create_task(self._upload_plan(link, docked))
        except BaseExceptionGroup as group:
            first = group.exceptions[0]
            if isinstance(first, LinkError | PreflightFailed):
                raise first from None
            raise

    async def _apply_params(self, link: DroneLink, params: tuple[ParamSetting, ...]) -> None:
        changed = await sync_params(link, params)
        self._record(
            "params_verified",
            Cause.PREFLIGHT,
            f"{len(params)} parameters, {changed} changed",
        )

    async def _upload_plan(self, link: DroneLink, docked: DockedSetup | None) -> None:
        """Upload the mission (and the fence unless the dock's verified one serves) and
        verify them before anything flies: by the checksum the vehicle reports for
        what it accepted, or, from a vehicle that reports none, by reading back."""
        plan = self.plan
        if docked is None:
            await link.upload_fence(plan.fence)
        await link.upload_mission(plan.mission)
        how = [
            await self._verify(link, "mission", plan.mission),
            "dock fence" if docked else await self._verify(link, "fence", plan.fence),
        ]
        if docked is not None:
            self._fence_record = (docked.fence_items, docked.fence_read_back)
        self._record(
            "upload_verified",
            Cause.PREFLIGHT,
            f"{len(plan.mission)} mission items ({how[0]}),"
            f" {len(self._fence_record[0]) if docked else len(plan.fence)} fence items"
            f" ({how[1]})",
        )

    async def _verify(self, link: DroneLink, kind: str, items: tuple[MissionItem, ...]) -> str:
        """How the upload of `kind` was verified; raises PreflightFailed if it was not."""
        expected = transfer_checksum(items)
        field = f"{kind}_checksum"
        try:
            await link.wait_for(
                lambda s: getattr(s, field) == expected,
                self.settings.checksum_wait_wall_s,
                f"{kind} checksum",
            )
            if kind == "fence":
                self._fence_record = (items, ())
            return f"checksum {expected:08x}"
        except WaitTimeout:
            pass
        held = tuple(
            await (link.download_mission() if kind == "mission" else link.download_fence())
        )
        if diffs := item_differences(items, held):
            raise PreflightFailed(
                f"upload did not verify: {'; '.join(f'{kind} {d}' for d in diffs)}"
            )
        if kind == "fence":
            self._fence_record = (items, held)
        else:
            self._mission_back = held
        return "read back"

    async def _read_back_mission(self, link: DroneLink) -> None:
        """Once flying, read the mission back for the sortie's record (the checksum
        already verified it before the launch); then publish what went to the vehicle."""
        held = self._mission_back
        if held is None:
            try:
                held = tuple(await link.download_mission())
            except LinkError as exc:
                self._record("read_back_failed", Cause.LINK, str(exc))
                held = ()
        if held and (diffs := item_differences(self.plan.mission, held)):
            self._record("read_back_differs", Cause.PREFLIGHT, "; ".join(map(str, diffs)))
        fence_sent, fence_back = self._fence_record
        if not fence_back and fence_sent:
            try:
                fence_back = tuple(await link.download_fence())
            except LinkError as exc:
                self._record("read_back_failed", Cause.LINK, str(exc))
        self.transfers = {
            "fence": {"uploaded": fence_sent, "read_back": fence_back},
            "mission": {"uploaded": self.plan.mission, "read_back": held},
        }
        self.transfers_version += 1
        self._notify_if_changed()

    async def _start_mission(self, link: DroneLink) -> None:
        """Arm and start the mission in one command (MAV_CMD_MISSION_START) until the
        vehicle accepts it.

        Right after an upload PX4 may answer "temporarily rejected" for a moment, so
        refusals are retried for `mission_start_window_vehicle_s` of vehicle time
        (vehicle time keeps this right at any simulation speed); PX4 accepts only
        once it is armed in MISSION mode.
        """
        settings = self.settings
        first_at_s = link.state.vehicle_time_s or 0.0
        attempts = 0
        try:
            async with asyncio.timeout(settings.mission_start_timeout_wall_s):
                while True:
                    self._check_abort()
                    attempts += 1
                    try:
                        await link.arm_and_start_mission()
                        break
                    except CommandRefused as exc:
                        elapsed_s = (link.state.vehicle_time_s or 0.0) - first_at_s
                        if elapsed_s >= settings.mission_start_window_vehicle_s:
                            raise PreflightFailed(
                                f"mission start refused {attempts} times in {elapsed_s:.1f} s"
                                f" ({exc})"
                            ) from exc
                    since = link.state.vehicle_time_s or 0.0
                    await link.wait_for(
                        _vehicle_clock_at(since + settings.start_retry_vehicle_s),
                        settings.mission_start_timeout_wall_s,
                        "vehicle clock",
                    )
                    if refused := _arming_refusal(link.state, first_at_s):
                        raise PreflightFailed(f"mission start refused: {refused}")
        except (TimeoutError, WaitTimeout) as exc:
            raise PreflightFailed(
                f"mission start not accepted within {settings.mission_start_timeout_wall_s:g} s"
            ) from exc
        self._record("armed", Cause.PREFLIGHT, "")
        self._record("mission_started", Cause.PREFLIGHT, f"after {attempts} attempt(s)")

    async def _end_on_ground(self, link: DroneLink, exc: Exception) -> None:
        state = link.state
        if state.armed and not state.in_air:
            try:
                await link.disarm()
            except LinkError as disarm_exc:
                self._record("disarm_failed", Cause.PREFLIGHT, str(disarm_exc))
        if self._abort_requested and self.sortie.can(S.ABORTED):
            self._advance(S.ABORTED, Cause.PILOT, "aborted before takeoff", *_when(state))
            self._advance(S.LANDED, Cause.PILOT, "never took off", *_when(state))
            self._advance(S.DOCKED, Cause.DOCK, "never left the dock", *_when(state))
        elif self.sortie.can(S.FAULT):
            said = await self._vehicle_complaints(link)
            reason = "; ".join([str(exc), *said[-3:]])
            self._advance(S.FAULT, Cause.PREFLIGHT, reason, *_when(state))

    async def _vehicle_complaints(self, link: DroneLink) -> list[str]:
        """Warnings the vehicle sent since dispatch: they usually name the real reason.

        A refusal's STATUSTEXT may trail its COMMAND_ACK, so wait a moment for one.
        """
        dispatched_s = self.sortie.transitions[0].vehicle_time_s or 0.0

        def complaints(state: DroneState) -> list[str]:
            return [
                t.text
                for t in state.status_texts
                if t.severity not in (Severity.DEBUG, Severity.INFO)
                and (t.vehicle_time_s or 0.0) >= dispatched_s
            ]

        try:
            state = await link.wait_for(
                lambda s: bool(complaints(s)), self.settings.complaint_wait_wall_s, "status text"
            )
        except LinkError:
            state = link.state
        return complaints(state)

    async def _track(self) -> None:
        link = await self._current_link()
        gap = False
        while not self._finished():
            try:
                state = await link.changed(self.settings.link_loss_wall_s)
            except WaitTimeout:
                if not gap:
                    gap = True
                    detail = f"no telemetry for {self.settings.link_loss_wall_s:g} s"
                    self.tracker.link_lost(link.state, _now(), detail)
                continue
            except LinkClosed:
                gap = True
                link = await self._relink()
                continue
            if gap:
                gap = False
                self.tracker.link_restored(state, _now())
            self.tracker.observe(state, _now())
            self._notify_if_changed()

    def _finished(self) -> bool:
        return self.sortie.state in (S.DOCKED, S.LANDED, S.FAULT)

    async def _current_link(self, timeout_s: float | None = None) -> DroneLink:
        if isinstance(self._drone, FleetDrone):
            wait_s = self.settings.relink_timeout_wall_s if timeout_s is None else timeout_s
            self._link = await self._drone.wait_link(wait_s)
        if self._link is None or self._link.closed:
            raise LinkClosed(self.profile.id, "no usable link")
        return self._link

    async def _relink(self) -> DroneLink:
        """The fleet's new link, once its telemetry is complete: a half-filled state
        (no `armed` yet) must not look like a landing."""
        if not isinstance(self._drone, FleetDrone):
            raise LinkClosed(self.profile.id, "link closed and nothing can reopen it")
        link = await self._current_link()
        await link.wait_for(lambda s: s.complete, self.settings.relink_timeout_wall_s, "telemetry")
        return link

    # --- pilot commands ----------------------------------------------------------------

    async def hold(self) -> None:
        """Stop and hover where the drone is."""
        link = self._for_command("hold")
        await self._command("hold", FlightMode.HOLD, link.hold())

    async def resume(self) -> None:
        """Continue the mission from where it was left (after hold, orbit, return...)."""
        link = self._for_command("resume")
        await self._command("resume", FlightMode.MISSION, link.start_mission())
        await link.wait_for(
            lambda s: s.flight_mode is FlightMode.MISSION,
            self.settings.mission_start_timeout_wall_s,
            "MISSION mode",
        )
        if self.sortie.state is S.RETURNING:
            # The mission picks up at its current item, which is at most the loiter:
            # the mission's own RTL item would have put the vehicle in RTL mode.
            self._advance(S.EN_ROUTE, Cause.PILOT, "resumed the mission", *_when(link.state))

    async def orbit(
        self, radius_m: float, speed_m_s: float | None = None, center: GeoPoint | None = None
    ) -> None:
        """Circle `center` (default: the scene) at the present altitude, facing it."""
        link = self._for_command("orbit")
        speed = speed_m_s or self.settings.orbit_speed_m_s
        around = center or self.route.point_of_interest
        await self._command(
            f"orbit {radius_m:g} m", None, link.orbit(radius_m, speed, around, None)
        )

    async def reposition(self, point: GeoPoint, relative_altitude_m: float | None = None) -> None:
        """Fly to `point` and hold there, camera on the scene."""
        link = self._for_command("reposition")
        altitude = relative_altitude_m
        if altitude is None:
            altitude = link.state.relative_altitude_m or self.route.cruise_altitude_m
        await self._command(
            f"reposition to {point.latitude_deg:.6f},{point.longitude_deg:.6f} at {altitude:g} m",
            FlightMode.HOLD,
            link.goto(point, altitude),
        )
        try:
            await link.set_roi(self.route.point_of_interest)
        except LinkError as exc:
            self._record("roi_failed", Cause.PILOT, str(exc))

    async def retarget(self, route: Route) -> None:
        """Send the airborne drone to a new target without landing. `route` starts where
        the drone is now and ends at the new target; the fence and mission built from it
        go up, are verified (the vehicle's checksum, else read back) and read back for the
        record, and the mission goes on from its first leg (the takeoff item is skipped).
        The sortie is en route again; the on-scene time and the final return are as before.

        Raises CommandNotAllowed (the sortie is not airborne), LinkError, or
        PreflightFailed when the vehicle did not take the new plan: then it holds where it
        is, and the pilot decides.
        """
        link = self._for_command("retarget")
        plan = build_mission(route, self.profile, self.plan.on_scene_s, self.settings.flight)
        first = plan.takeoff_index + 1
        async with self._retargeting:
            if self._read_back is not None and not self._read_back.done():
                # The launch's read-back records the first plan; let it finish first.
                with contextlib.suppress(LinkError):
                    await self._read_back
            previous = self.tracker.expected_mode
            self.tracker.expect(FlightMode.MISSION)
            try:
                await link.upload_fence(plan.fence)
                # Marked current, the first leg (not the takeoff) is where PX4 takes a
                # mission uploaded in flight up, at once when one is under way.
                await link.upload_mission(plan.mission, current=first)
                if link.state.flight_mode is not FlightMode.MISSION:
                    await self._resume_mission(link)
                how = [
                    await self._verify(link, "mission", plan.mission),
                    await self._verify(link, "fence", plan.fence),
                ]
                state = await link.wait_for(
                    lambda s: (
                        s.flight_mode is FlightMode.MISSION
                        and first <= s.mission_current <= plan.loiter_index
                    ),
                    self.settings.mission_start_timeout_wall_s,
                    "the new mission under way",
                )
            except (LinkError, PreflightFailed) as exc:
                self.tracker.expect(FlightMode.HOLD)
                with contextlib.suppress(LinkError):
                    await link.hold()
                self._record("retarget_failed", Cause.DISPATCH, f"{exc}; holding")
                self._notify_if_changed()
                if isinstance(exc, WaitTimeout):
                    raise PreflightFailed(f"the new mission did not start: {exc}") from exc
                raise
            except BaseException:
                self.tracker.expect(previous)
                raise
            self.plan, self.route = plan, route
            self.tracker.retarget(plan, route, state)
            self.retargets += 1
            target = route.target
            self._record(
                "retargeted",
                Cause.DISPATCH,
                f"new target {target.latitude_deg:.6f},{target.longitude_deg:.6f}:"
                f" {len(plan.mission)} mission items ({how[0]}),"
                f" {len(plan.fence)} fence items ({how[1]})",
            )
            if self.sortie.state in (S.ON_SCENE, S.RETURNING):
                self._advance(S.EN_ROUTE, Cause.DISPATCH, "sent to a new scene", *_when(state))
            self._notify_if_changed()
            await self._record_retarget_transfers(link, plan)

    async def _resume_mission(self, link: DroneLink) -> None:
        """MISSION mode in flight (from return, hold...), retried while PX4 answers
        "temporarily rejected" right after an upload."""
        settings = self.settings
        first_at_s = link.state.vehicle_time_s or 0.0
        while True:
            try:
                await link.start_mission()
                return
            except CommandRefused as exc:
                since = link.state.vehicle_time_s or 0.0
                if since - first_at_s >= settings.mission_start_window_vehicle_s:
                    raise PreflightFailed(f"MISSION mode refused: {exc}") from exc
            await link.wait_for(
                _vehicle_clock_at(since + settings.start_retry_vehicle_s),
                settings.mission_start_timeout_wall_s,
                "vehicle clock",
            )

    async def _record_retarget_transfers(self, link: DroneLink, plan: MissionPlan) -> None:
        """Keep what went up before under `mission_N`/`fence_N` (N: the plan it was, from
        1) and record the new plan as uploaded and read back."""
        back: dict[str, tuple[MissionItem, ...]] = {}
        for kind, download in (("mission", link.download_mission), ("fence", link.download_fence)):
            try:
                back[kind] = tuple(await download())
            except LinkError as exc:
                self._record("read_back_failed", Cause.LINK, str(exc))
                back[kind] = ()
        transfers = dict(self.transfers)
        for kind in ("mission", "fence"):
            if kind in transfers:
                transfers[f"{kind}_{self.retargets}"] = transfers[kind]
        transfers["mission"] = {"uploaded": plan.mission, "read_back": back["mission"]}
        transfers["fence"] = {"uploaded": plan.fence, "read_back": back["fence"]}
        self.transfers = transfers
        self.transfers_version += 1
        self._notify_if_changed()

    async def return_home(self, cause: Cause = Cause.PILOT, why: str = "pilot: return") -> None:
        """Fly home now (the pilot's command, or `cause`: e.g. overwatch handing over)."""
        link = self._for_command("return")
        await self._command("return", FlightMode.RETURN_TO_LAUNCH, link.return_to_launch(), cause)
        if self.sortie.state in (S.EN_ROUTE, S.ON_SCENE):
            self._advance(S.RETURNING, cause, why, *_when(link.state))

    async def land(self) -> None:
        """Land where the drone is."""
        link = self._for_command("land")
        await self._command("land", FlightMode.LAND, link.land())

    async def abort(self) -> None:
        """Give up the sortie: on the ground stay on the dock, airborne return home."""
        if self.sortie.state is S.LAUNCHING and not self._launched:
            self._abort_requested = True
            self._record("pilot_abort", Cause.PILOT, "before takeoff")
            return
        link = self._for_command("abort", on_ground_too=True)
        if self.sortie.state is S.LAUNCHING and not link.state.in_air:
            try:
                await self._command("abort", None, link.disarm())
                detail = "pilot abort: disarmed on the dock"
            except LinkError:  # already lifting off: bring it back instead
                await self._command("abort", FlightMode.RETURN_TO_LAUNCH, link.return_to_launch())
                detail = "pilot abort: returning home"
        else:
            await self._command("abort", FlightMode.RETURN_TO_LAUNCH, link.return_to_launch())
            detail = "pilot abort: returning home"
        if self.sortie.can(S.ABORTED):
            self._advance(S.ABORTED, Cause.PILOT, detail, *_when(link.state))

    def _for_command(self, name: str, on_ground_too: bool = False) -> DroneLink:
        allowed = self.sortie.airborne or self.sortie.state is S.ABORTED
        if on_ground_too:
            allowed = allowed or self.sortie.state is S.LAUNCHING
        if not allowed:
            hint = "; abort stops a launch" if self.sortie.state is S.LAUNCHING else ""
            raise CommandNotAllowed(
                f"{name}: the sortie is {self.sortie.state}, not airborne{hint}"
            )
        if self._link is None or self._link.closed:
            raise CommandNotAllowed(f"{name}: no link to the drone")
        return self._link

    async def _command(
        self,
        name: str,
        mode: FlightMode | None,
        call: Awaitable[None],
        cause: Cause = Cause.PILOT,
    ) -> None:
        previous = self.tracker.expected_mode
        self.tracker.expect(mode)
        try:
            await call
        except BaseException:
            self.tracker.expect(previous)
            raise
        self._record(f"{cause}_{name.split()[0]}", cause, name)
        self._notify_if_changed()

    def _check_abort(self) -> None:
        if self._abort_requested:
            raise PreflightFailed("aborted by the pilot")

    def _record(self, kind: str, cause: Cause, detail: str) -> None:
        state = self._link.state if self._link is not None else DroneState()
        self.sortie.record(kind, cause, detail, *_when(state))

    def _fault(self, reason: str, cause: Cause) -> None:
        state = self._link.state if self._link is not None else DroneState()
        if self.sortie.can(S.FAULT):
            self._advance(S.FAULT, cause, reason, *_when(state))


#: How PX4 says that it will not arm (as opposed to a mode it will take in a moment).
ARMING_REFUSALS = ("Preflight Fail", "Arming denied")


def _arming_refusal(state: DroneState, since_vehicle_s: float) -> str | None:
    for text in state.status_texts:
        if (text.vehicle_time_s or 0.0) >= since_vehicle_s and text.text.startswith(
            ARMING_REFUSALS
        ):
            return text.text
    return None


def _vehicle_clock_at(vehicle_s: float) -> Callable[[DroneState], bool]:
    """A `wait_for` predicate: the vehicle's clock has reached `vehicle_s`."""
    return lambda s: (s.vehicle_time_s or 0.0) >= vehicle_s


def _now() -> datetime:
    return datetime.now(UTC)


def _when(state: DroneState) -> tuple[float | None, datetime]:
    return state.vehicle_time_s, _now()
