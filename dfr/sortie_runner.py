"""Flying sorties: a reserved drone is launched (or held for the pilot), flown by a
`FlightExecutor`, released when it is down, and handed the next queued call.

    reserve (dispatcher) → awaiting pilot? → launch → fly → release → serve the queue

A person's dispatch is held for the pilot when the deployment's `launch_policy` says
so; a launch policy's (`dfr.launch_policies`) when its mode is `pilot_confirm`, for its
`confirm_s`, after which the runner launches it or lets it expire (the sortie is
withdrawn: its drone free, its call open again for a dispatcher), as the policy says.
What became of a policy's launch is written on its call.

The runner owns one task per sortie in flight. Each state change goes to the
store (the sortie's timeline) and to the consoles as it happens. A sortie that
ends in FAULT takes its drone out of service and alerts the pilots; when the
drone never reached the scene its call goes back to the queue, so the next
free station takes it. Stopping the runner stops following flights; what an
airborne drone then does is decided in `dfr.flight_executor`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from dfr.active_sorties import ActiveSortie, SortieBoard
from dfr.agencies import MutualAid
from dfr.auth import Principal, Role
from dfr.console_views import call_event, sortie_event
from dfr.deployment import Deployment
from dfr.dispatcher import Dispatcher, DispatchResult
from dfr.dock_prep import DockedSetup
from dfr.events import Event, EventBus
from dfr.flight_errors import CommandNotAllowed, PreflightFailed
from dfr.flight_executor import ExecutorSettings, FlightExecutor, FlightResult
from dfr.launch_policies import LaunchMode, LaunchPolicy, OnTimeout
from dfr.store import CallRecord, SortieRecord, Store
from missions.geo import GeoPoint
from missions.mission_plan import MavCmd
from missions.profile import Station
from missions.sortie import SortieState
from stations.drone_link import LinkError
from stations.fleet import Fleet

log = logging.getLogger(__name__)

SYSTEM = Principal("system", Role.DISPATCHER)


class RetaskFailed(Exception):
    """A drone in flight did not take the new mission; it serves its call as before."""


class LaunchNotPending(Exception):
    """Confirming (or withdrawing) a launch that is not waiting for the pilot."""


class SortieVideo(Protocol):
    """What the runner tells the video side (implemented in the web layer)."""

    async def sortie_started(self, drone_id: str, call_id: int, sortie_id: int) -> None: ...

    async def sortie_ended(self, drone_id: str, sortie_id: int) -> dict[str, Any] | None: ...

    def sortie_call_changed(self, drone_id: str, call_id: int) -> None: ...


FlightListener = Callable[[ActiveSortie, FlightResult], None]
"""Told of every flight that ended, once its drone is released and the queue served."""

FlightLearner = Callable[[ActiveSortie, FlightResult], Awaitable[None]]
"""Takes every flight that ended, before its drone is released (so the queue it serves
next is ranked with what was learnt): the ETA calibration."""


class SortieRunner:
    def __init__(
        self,
        deployment: Deployment,
        store: Store,
        dispatcher: Dispatcher,
        fleet: Fleet,
        board: SortieBoard,
        bus: EventBus,
        executor_settings: ExecutorSettings,
        prepare_dock: Callable[[Station], None],
        claim_dock: Callable[[str], DockedSetup | None] = lambda station_id: None,
        video: SortieVideo | None = None,
        on_flight_ended: FlightListener | None = None,
        on_streams_changed: Callable[[], None] | None = None,
        learn: FlightLearner | None = None,
        on_scene_s: Callable[[ActiveSortie], float] | None = None,
    ) -> None:
        """`on_scene_s`: how long a sortie stays on scene (by default the deployment's
        `on_scene_s`; a call under overwatch as long as the battery allows)."""
        self.deployment = deployment
        self.store = store
        self.dispatcher = dispatcher
        self.fleet = fleet
        self.board = board
        self.bus = bus
        self.executor_settings = executor_settings
        self.video = video
        self.on_flight_ended = on_flight_ended
        self._learn = learn
        self._on_scene_s = on_scene_s or (lambda active: deployment.defaults.on_scene_s)
        self._prepare_dock = prepare_dock
        self._claim_dock = claim_dock
        self._streams_changed = on_streams_changed or (lambda: None)
        self._tasks: set[asyncio.Task[None]] = set()
        self._flights: dict[int, asyncio.Task[None]] = {}  # sortie id → its flight's task
        self._starting: set[int] = set()  # reserved elsewhere, being started here
        self._stopping = False

    @contextlib.asynccontextmanager
    async def running(self, queue_interval_s: float = 2.0) -> AsyncIterator[SortieRunner]:
        """Fly sorties, and keep offering waiting calls to the drones: one may become
        available at any moment (its checks pass, it charges, its link comes back)."""
        self._spawn(self._keep_serving_queue(queue_interval_s), "queue")
        try:
            yield self
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop following flights; airborne drones carry on (see the flight executor)."""
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- launching ----------------------------------------------------------------

    async def start(
        self, result: DispatchResult, who: Principal, policy: LaunchPolicy | None = None
    ) -> None:
        """A drone was reserved for a call: launch it, or hold it for the pilot (as the
        deployment's launch_policy says; for a launch `policy`, as its mode says)."""
        assert result.sortie is not None
        assert result.candidate is not None
        record = result.sortie
        candidate = result.candidate
        call = result.call
        if candidate.mutual_aid is not None:
            assert candidate.agency is not None
            call = await self._mutual_aid(record, call, candidate.agency, candidate.mutual_aid, who)
        active = ActiveSortie(
            record,
            call,
            self.deployment.station(record.station_id),
            candidate.route,
            candidate.eta_s,
            policy=record.policy,
            agency=candidate.agency,
            mutual_aid=str(candidate.mutual_aid) if candidate.mutual_aid is not None else None,
        )
        await self._begin(active, who, policy)

    async def start_reserved(
        self,
        record: SortieRecord,
        call: CallRecord,
        who: Principal,
        policy: LaunchPolicy | None = None,
    ) -> None:
        """A sortie another server reserved for a drone this server links: launch it (or
        hold it for the pilot) as `start` would, on the route it stored. Once: asked again
        (a repeated request, the recovery of a drone taken over) while it is being started
        or flown here, it does nothing."""
        if record.id in self._starting or self.board.get(record.id) is not None:
            return
        self._starting.add(record.id)
        try:
            station = self.deployment.station(record.station_id)
            owner, rule = self._agency_rule(record.station_id, call)
            if rule is not None:
                assert owner is not None
                call = await self._mutual_aid(record, call, owner, rule, who)
            await self._begin(self._stored(record, call, station), who, policy)
        finally:
            self._starting.discard(record.id)

    def _stored(
        self, record: SortieRecord, call: CallRecord, station: Station, **more: Any
    ) -> ActiveSortie:
        """A sortie the store holds, on the route it stored, with its drone's agency and
        the mutual-aid rule it flies the call under."""
        scene = GeoPoint(call.latitude_deg, call.longitude_deg)
        owner, rule = self._agency_rule(station.id, call)
        return ActiveSortie(
            record,
            call,
            station,
            self.deployment.planner.restored(record.route, scene),
            record.eta_s or 0.0,
            policy=record.policy,
            agency=owner,
            mutual_aid=str(rule) if rule is not None else None,
            **more,
        )

    def _agency_rule(
        self, station_id: str, call: CallRecord
    ) -> tuple[str | None, MutualAid | None]:
        """The agency owning the station, and the mutual-aid rule its drone flies the
        call under when the call is another agency's (None: its own, or no agencies)."""
        agencies = self.deployment.agencies
        owner = agencies.of_station(station_id) if agencies else None
        if agencies is None or owner in (None, call.agency):
            return owner, None
        return owner, agencies.rule(owner, call.agency)

    async def _begin(
        self, active: ActiveSortie, who: Principal, policy: LaunchPolicy | None
    ) -> None:
        record = active.record
        self.board.add(active)
        self._streams_changed()  # the drone's stream now serves this call
        if active.mutual_aid == MutualAid.PILOT_CONFIRM:
            owner = self.deployment.agencies.name_of(active.agency)
            into = self.deployment.agencies.name_of(active.call.agency)
            cause = f"mutual aid into {into}: held for {owner}'s pilot to confirm"
            await self.store.hold_for_pilot(record.id, cause)
            self._publish_sortie(active, "awaiting_pilot")
            return
        if policy is not None:
            if policy.mode is LaunchMode.PILOT_CONFIRM:
                await self._hold_for_policy(active, policy)
                return
        elif self.deployment.launch_policy == "pilot_confirm" and who.role != Role.PILOT:
            await self.store.hold_for_pilot(record.id, f"sent by {who.name}; waiting for the pilot")
            self._publish_sortie(active, "awaiting_pilot")
            return
        active.claimed = True
        await self._launch(active, who)
        if policy is not None:
            await self._note_policy(
                active, "launched", f"launched by policy {policy.name} with no click", who.name
            )

    async def _mutual_aid(
        self, sortie: SortieRecord, call: CallRecord, owner: str, rule: MutualAid, who: Principal
    ) -> CallRecord:
        """Another agency's drone sent to a call (dfr.agencies): audited with both
        agencies, and the call shared with the drone's agency (its pilot sees what it
        flies to). Returns the call as shared."""
        details = {
            "agencies": [owner, call.agency],
            "rule": str(rule),
            "station_id": sortie.station_id,
            "sortie_id": sortie.id,
        }
        await self.store.audit(who.name, "mutual_aid.dispatch", f"call:{call.id}", details)
        call = await self.store.share_call_with_agency(
            call.id, owner, who.name, {"why": "mutual aid", "sortie_id": sortie.id}
        )
        self.bus.publish(call_event(call))
        return call

    async def confirm(self, sortie_id: int, who: Principal) -> SortieRecord:
        """The pilot confirms a launch held for them. Raises LaunchNotPending."""
        active = self._claim(sortie_id)
        try:
            await self._launch(active, who)
        except BaseException:
            active.claimed = active.executor is not None
            raise
        if active.policy is not None:
            why = f"held by policy {active.policy}; confirmed by {who.name}"
            await self._note_policy(active, "launched", why, who.name)
        return await self.store.get_sortie(sortie_id)

    async def withdraw(
        self, sortie_id: int, actor: str, cause: str, policy_outcome: str | None = None
    ) -> CallRecord | None:
        """Give up a launch held for the pilot (declined, or its confirmation expired):
        the sortie ends as aborted, its drone is free for the queue, and its call is open
        again for a dispatcher. Returns the call. Raises LaunchNotPending."""
        active = self._claim(sortie_id)
        try:
            call = await self.store.withdraw(sortie_id, actor, cause, policy_outcome)
        except BaseException:
            active.claimed = False
            raise
        self.board.remove(sortie_id)
        self._streams_changed()
        active.confirm_expires_at = None
        self._publish_sortie(active, "aborted")
        if call is not None:
            self.bus.publish(call_event(call))
        await self.serve_queue("system")
        return call

    def held(self, station_id: str) -> ActiveSortie | None:
        """The station's sortie if it waits for the pilot (not launched, not claimed)."""
        active = self.board.for_station(station_id)
        if active is None or active.executor is not None or active.claimed:
            return None
        return active

    def _claim(self, sortie_id: int) -> ActiveSortie:
        """The held launch, now taken up by the caller; raises LaunchNotPending."""
        active = self.board.get(sortie_id)
        if active is None or active.executor is not None or active.claimed:
            raise LaunchNotPending(f"sortie {sortie_id} is not waiting for a pilot")
        active.claimed = True
        return active

    async def _hold_for_policy(self, active: ActiveSortie, policy: LaunchPolicy) -> None:
        """Hold a policy's launch for the pilot for its confirm_s; then launch or expire."""
        expires = datetime.now(UTC) + timedelta(seconds=policy.confirm_s)
        active.confirm_expires_at = expires.isoformat(timespec="milliseconds")
        then = "launches" if policy.on_timeout is OnTimeout.LAUNCH else "expires"
        cause = (
            f"held by policy {policy.name} for the pilot: {policy.confirm_s:g} s to confirm,"
            f" then it {then}"
        )
        await self.store.hold_for_pilot(active.record.id, cause, active.confirm_expires_at)
        await self._note_policy(active, "awaiting_pilot", cause, policy.actor)
        self._publish_sortie(active, "awaiting_pilot")
        self._spawn(self._confirm_deadline(active, policy), f"confirm {active.record.id}")

    async def _confirm_deadline(self, active: ActiveSortie, policy: LaunchPolicy) -> None:
        await asyncio.sleep(policy.confirm_s)
        if active.claimed or self.board.get(active.record.id) is not active:
            return  # confirmed or withdrawn meanwhile
        waited = f"not confirmed within {policy.confirm_s:g} s"
        try:
            if policy.on_timeout is OnTimeout.LAUNCH:
                active.claimed = True
                await self._launch(active, Principal(policy.actor, Role.DISPATCHER))
                why = f"{waited}: launched by policy {policy.name}"
                await self._note_policy(active, "launched", why, policy.actor)
            else:
                why = f"{waited}: the launch expired (policy {policy.name}); left for a dispatcher"
                await self.withdraw(active.record.id, policy.actor, why, "expired")
        except LaunchNotPending:
            pass  # taken up in the very moment
        except Exception:  # noqa: BLE001 - logged; the sortie stays for the pilot
            log.exception("sortie %d: the policy's confirmation deadline failed", active.record.id)

    async def _note_policy(
        self, active: ActiveSortie, outcome: str, reason: str, actor: str, reopen: bool = False
    ) -> None:
        """Write on the call what became of its policy's launch (`reopen`: and open it
        again for a dispatcher), and tell the consoles."""
        call = await self.store.set_call_policy(
            active.call.id, active.policy, outcome, reason, actor, reopen=reopen
        )
        active.call = call
        self.bus.publish(call_event(call))

    async def serve_queue(self, actor: str) -> None:
        """Give queued calls to the drones that can take them now."""
        for result in await self.dispatcher.serve_queue(actor):
            await self.start(result, SYSTEM)

    async def _keep_serving_queue(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.serve_queue("system")
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("serving the queue failed")

    async def _launch(self, active: ActiveSortie, who: Principal) -> None:
        record = await self.store.mark_launched(active.record.id, who.name)
        active.launched_by, active.launched_at = record.launched_by, record.launched_at
        active.confirm_expires_at = None  # launched: nothing counts down any more
        if self.video is not None:
            await self.video.sortie_started(active.station.drone.id, active.call.id, record.id)
            self._streams_changed()  # and is being recorded
        active.executor = FlightExecutor(
            self.fleet.drone(active.station.id),
            active.route,
            active.station.drone,
            self._on_scene_s(active),
            call_id=str(active.call.id),
            station_id=active.station.id,
            settings=self.executor_settings,
            docked=self._claim_dock(active.station.id),
        )
        self._follow(active, f"sortie {active.record.id}")

    async def retask(self, result: DispatchResult, who: Principal) -> None:
        """A flying drone was moved to another call in the store (`Dispatcher`): send it
        there in flight. The sortie, its video and share links now serve the new call,
        the call it left is told, and the pilot is alerted. When the vehicle does not
        take the new mission the store is put back and RetaskFailed is raised."""
        retasked, candidate = result.retasked_from, result.candidate
        assert retasked is not None
        assert candidate is not None
        active = self.board.get(retasked.sortie.id)
        executor = active.executor if active is not None else None
        try:
            if active is None or executor is None:
                raise CommandNotAllowed("the sortie is no longer flying")
            await executor.retarget(candidate.route)
        except (CommandNotAllowed, LinkError, PreflightFailed) as exc:
            await self.store.undo_retask(retasked, who.name, str(exc))
            if retasked.previous is not None:
                self.bus.publish(call_event(await self.store.get_call(retasked.previous.id)))
            self.bus.publish(call_event(await self.store.get_call(result.call.id)))
            if active is not None and executor is not None and executor.sortie.airborne:
                self._alert(
                    "critical",
                    (active.station.id, active.station.drone.id),
                    result.call.id,
                    f"{active.station.drone.id} was not re-tasked to call {result.call.id}"
                    f" ({exc}): it holds; resume or return it",
                    kind="retask_failed",
                    sortie_id=active.record.id,
                )
            raise RetaskFailed(
                f"drone {candidate.drone_id} did not take the new mission in flight: {exc}"
            ) from exc
        active.call, active.route, active.eta_s = result.call, candidate.route, candidate.eta_s
        active.record = retasked.sortie
        if self.video is not None:
            self.video.sortie_call_changed(active.station.drone.id, result.call.id)
        self._streams_changed()  # the call's video is this drone's now
        left = retasked.previous
        if left is not None:
            self.bus.publish(call_event(left))
        message = f"{active.station.drone.id} re-tasked in flight to call {result.call.id}"
        if left is not None:
            message += f" (it left call {left.id}"
            message += ", which is open again)" if left.status == "new" else ")"
        self._alert(
            "warning",
            (active.station.id, active.station.drone.id),
            result.call.id,
            message,
            kind="retasked",
            sortie_id=active.record.id,
            from_call_id=None if left is None else left.id,
        )
        self._publish_sortie(active, str(executor.state))

    def _alert(
        self, severity: str, drone: tuple[str, str], call_id: int | None, message: str, **more: Any
    ) -> None:
        """An alert for the consoles about a drone (station id, drone id) and `call_id`."""
        about = {"station_id": drone[0], "drone_id": drone[1], "call_id": call_id}
        self.bus.publish(
            Event("alert", {"severity": severity, **about, **more, "message": message})
        )

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _follow(self, active: ActiveSortie, name: str) -> None:
        sortie_id = active.record.id
        task = self._spawn(self._fly(active), name)
        self._flights[sortie_id] = task
        task.add_done_callback(lambda _: self._flights.pop(sortie_id, None))

    def let_go(self, station_id: str) -> None:
        """This server no longer links the station's drone (another server may take its
        lease): stop following its sortie, recording nothing and commanding nothing, as
        a stopping server does. The server that takes the drone re-adopts the sortie."""
        active = self.board.for_station(station_id)
        if active is None:
            return
        task = self._flights.pop(active.record.id, None)
        if task is None:
            return  # not flying from here (held for the pilot): the store keeps it
        task.cancel()
        self.board.remove(active.record.id)
        self._streams_changed()
        log.warning("sortie %d: let go with its drone's link", active.record.id)

    async def take_out_of_service(self, station: Station, reason: str | None) -> None:
        """Keep the drone from new calls until a person puts it back (None: put it back)."""
        self.fleet.set_maintenance(station.id, reason is not None)
        await self.store.set_out_of_service(station.drone.id, reason)

    # -- flying -------------------------------------------------------------------

    async def _fly(self, active: ActiveSortie) -> None:
        executor = active.executor
        assert executor is not None
        watcher = asyncio.create_task(self._mirror(active), name=f"mirror {active.record.id}")
        try:
            result = await executor.run()
        except Exception as exc:  # noqa: BLE001 - a sortie must never keep its drone reserved
            log.exception("sortie %d: the flight executor failed", active.record.id)
            result = executor.fail(f"internal error: {exc!r}")
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        try:
            await self._persist_transitions(active)
        except Exception:  # noqa: BLE001 - the drone must be released all the same
            log.exception("sortie %d: could not record its end", active.record.id)
        if self._stopping:
            return
        await self._finish(active, result)

    async def _finish(self, active: ActiveSortie, result: FlightResult) -> None:
        """The drone is down (or lost): record, release, alert, serve the queue."""
        record, station = active.record, active.station
        if self.video is not None:
            manifest = await self.video.sortie_ended(station.drone.id, record.id)
            if manifest is not None:
                await self.store.audit("system", "recording.saved", f"sortie:{record.id}", manifest)
        self.board.remove(record.id)
        self._streams_changed()  # the drone's stream serves no call any more
        fault = result.final_state is SortieState.FAULT
        if fault:
            await self._fault(active, result)
        elif active.policy is not None and any(
            t.to_state is SortieState.ABORTED for t in result.transitions
        ):
            await self._policy_launch_aborted(active, result)
        if self._learn is not None:
            try:
                await self._learn(active, result)
            except Exception:  # noqa: BLE001 - learning must never keep a drone reserved
                log.exception("sortie %d: could not learn from the flight", record.id)
        served = await self.dispatcher.release(
            record.id, str(result.final_state), "system", result.reason or ""
        )
        self._publish_sortie(active, str(result.final_state))
        for next_result in served:  # queued calls the free drones can take now
            await self.start(next_result, SYSTEM)
        if not fault and self.board.for_station(station.id) is None:
            self._prepare_dock(station)
        if self.on_flight_ended is not None:
            self.on_flight_ended(active, result)

    async def _fault(self, active: ActiveSortie, result: FlightResult) -> None:
        # Do not hand the next queued call to a drone that just failed: a person must
        # look at it and put it back in service.
        station = active.station
        await self.take_out_of_service(station, f"sortie {active.record.id} fault")
        # A call a dispatcher closed meanwhile stays closed.
        still_open = (await self.store.get_call(active.call.id)).status == "dispatched"
        requeue = result.timeline.on_scene_s is None and still_open
        message = f"sortie {active.record.id} fault: {result.reason}; drone taken out of service"
        if requeue:
            # The scene never saw this drone: the call goes to the next free station.
            call = await self.store.set_call_status(active.call.id, "queued", "system")
            self.bus.publish(call_event(call))
            message += f"; call {call.id} is back in the queue"
        self._alert("critical", (station.id, station.drone.id), active.call.id, message)

    async def _policy_launch_aborted(self, active: ActiveSortie, result: FlightResult) -> None:
        """A person aborted a policy's launch before the scene saw the drone: the call
        was never looked at by anyone, so it goes back to the dispatchers."""
        call = await self.store.get_call(active.call.id)
        if result.timeline.on_scene_s is not None or call.status != "dispatched":
            return
        why = (
            f"the launch by policy {active.policy} was aborted before the drone reached the"
            " scene; left for a dispatcher"
        )
        await self._note_policy(active, "aborted", why, "system", reopen=True)

    async def _mirror(self, active: ActiveSortie) -> None:
        """Write the executor's transitions to the store and the consoles as they happen;
        a write that fails is logged and tried again, never the end of the mirror."""
        while True:
            try:
                await self._persist_transitions(active)
            except Exception:  # noqa: BLE001 - the flight goes on; so must its record
                log.exception("sortie %d: could not record its progress", active.record.id)
            await asyncio.sleep(0.1)

    async def _persist_transitions(self, active: ActiveSortie) -> None:
        executor = active.executor
        if executor is None:
            return
        version = executor.transfers_version
        if executor.transfers and active.transfers_saved != version:
            await self.store.record_transfers(
                active.record.id,
                {
                    kind: {way: [asdict(item) for item in items] for way, items in ways.items()}
                    for kind, ways in executor.transfers.items()
                },
            )
            active.transfers_saved = version  # a failed write is tried again next round
        # The changes of one round go in together: landed and docked come from one
        # telemetry sample, and no reader may see the first without the second.
        fresh = list(executor.sortie.transitions)[active.persisted :]
        await self.store.record_sortie_states(
            active.record.id,
            [
                (str(t.to_state), f"{t.cause}: {t.detail}".strip(": "), t.vehicle_time_s)
                for t in fresh
            ],
        )
        active.persisted += len(fresh)
        for t in fresh:
            self._publish_sortie(active, str(t.to_state))

    def _publish_sortie(self, active: ActiveSortie, state: str) -> None:
        self.bus.publish(sortie_event(active, state))

    # -- after a restart (see dfr.sortie_recovery) -----------------------------------

    async def adopt(self, record: SortieRecord, call: CallRecord, station: Station) -> None:
        """Follow a sortie that was flying when this server started, from the state the
        store last recorded and what the vehicle reports."""
        try:
            recorded = SortieState(record.state)
        except ValueError:  # reserved or awaiting the pilot: it took off since
            recorded = SortieState.LAUNCHING
        active = self._stored(
            record,
            call,
            station,
            launched_by=record.launched_by,
            launched_at=record.launched_at,
            claimed=True,
        )
        # The loiter the vehicle flies is the one uploaded (an overwatch sortie's is as
        # long as its battery allowed), not the deployment's default.
        on_scene_s = planned_loiter_s(await self.store.transfers(record.id))
        active.executor = FlightExecutor.adopting(
            self.fleet.drone(station.id),
            active.route,
            station.drone,
            self.deployment.defaults.on_scene_s if on_scene_s is None else on_scene_s,
            str(call.id),
            recorded,
            self.executor_settings,
        )
        self.board.add(active)
        await self.store.audit(
            "system",
            "sortie.adopt",
            f"sortie:{record.id}",
            {"drone_id": station.drone.id, "call_id": call.id, "recorded_state": record.state},
        )
        if self.video is not None:
            await self.video.sortie_started(station.drone.id, call.id, record.id)
        self._streams_changed()
        self._follow(active, f"sortie {record.id} (adopted)")

    async def expire_inherited(self, record: SortieRecord) -> None:
        """A policy's launch the last run held for the pilot and never launched: it
        expires (nobody confirmed it, and no countdown survives a restart), its drone is
        free and its call open again for a dispatcher."""
        cause = (
            f"the server restarted while policy {record.policy}'s launch waited for the"
            " pilot: it expired; left for a dispatcher"
        )
        call = await self.store.withdraw(record.id, f"policy:{record.policy}", cause, "expired")
        if call is not None:
            self.bus.publish(call_event(call))
        drone = (record.station_id, record.drone_id)
        self._alert("warning", drone, record.call_id, f"sortie {record.id}: {cause}")
        await self.serve_queue("system")

    async def close_inherited(
        self,
        record: SortieRecord,
        station: Station,
        final_state: SortieState,
        found: str,
        requeue: bool,
    ) -> None:
        """End a sortie the last run left open whose drone is down: free the drone (or,
        landed away from its dock, take it out of service), requeue a call whose scene
        never saw it, and serve the queue."""
        cause = f"found after a restart: {found}"
        await self.store.release(record.id, str(final_state), "system", cause)
        alerts = []
        if final_state is not SortieState.DOCKED:
            await self.take_out_of_service(station, f"sortie {record.id}: {found}")
            alerts.append(f"drone {station.drone.id} {found}; taken out of service")
        if requeue and record.call_id is not None:
            call = await self.store.get_call(record.call_id)
            if call.status == "dispatched":
                call = await self.store.set_call_status(call.id, "queued", "system")
                self.bus.publish(call_event(call))
                alerts.append(f"call {call.id} never saw the drone and is back in the queue")
        if alerts:
            message = f"sortie {record.id}: " + "; ".join(alerts)
            self._alert("warning", (station.id, station.drone.id), record.call_id, message)
        await self.serve_queue("system")
        if final_state is SortieState.DOCKED:
            self._prepare_dock(station)


def planned_loiter_s(transfers: dict[str, dict[str, list]]) -> float | None:
    """The on-scene time of the mission a sortie flies (its last one: re-targets are
    kept as `mission_1`...), from what was uploaded; None when unknown."""
    ways = transfers.get("mission", {})
    for item in reversed(ways.get("read_back", ways.get("uploaded", []))):
        if item.get("command") == MavCmd.NAV_LOITER_TIME:
            return float(item.get("param1", 0.0))
    return None
