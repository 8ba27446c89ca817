"""Flying sorties: a reserved drone is launched (or held for the pilot), flown by a
`FlightExecutor`, released when it is down, and handed the next queued call.

    reserve (dispatcher) → awaiting pilot? → launch → fly → release → serve the queue

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
from typing import Any, Protocol

from dfr.active_sorties import ActiveSortie, SortieBoard
from dfr.auth import Principal, Role
from dfr.console_views import call_event, sortie_event
from dfr.deployment import Deployment
from dfr.dispatcher import Dispatcher, DispatchResult
from dfr.dock_prep import DockedSetup
from dfr.events import Event, EventBus
from dfr.flight_executor import ExecutorSettings, FlightExecutor, FlightResult
from dfr.store import CallRecord, SortieRecord, Store
from missions.geo import GeoPoint
from missions.profile import Station
from missions.sortie import SortieState
from stations.fleet import Fleet

log = logging.getLogger(__name__)

SYSTEM = Principal("system", Role.DISPATCHER)


class LaunchNotPending(Exception):
    """Confirming a launch that is not waiting for the pilot."""


class SortieVideo(Protocol):
    """What the runner tells the video side (implemented in the web layer)."""

    async def sortie_started(self, drone_id: str, call_id: int, sortie_id: int) -> None: ...

    async def sortie_ended(self, drone_id: str, sortie_id: int) -> dict[str, Any] | None: ...


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
    ) -> None:
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
        self._prepare_dock = prepare_dock
        self._claim_dock = claim_dock
        self._streams_changed = on_streams_changed or (lambda: None)
        self._tasks: set[asyncio.Task[None]] = set()
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

    async def start(self, result: DispatchResult, who: Principal) -> None:
        """A drone was reserved for a call: launch it, or hold it for the pilot."""
        assert result.sortie is not None
        assert result.candidate is not None
        record = result.sortie
        candidate = result.candidate
        active = ActiveSortie(
            record,
            result.call,
            self.deployment.station(record.station_id),
            candidate.route,
            candidate.eta_s,
        )
        self.board.add(active)
        self._streams_changed()  # the drone's stream now serves this call
        if self.deployment.launch_policy == "pilot_confirm" and who.role != Role.PILOT:
            await self.store.record_sortie_state(
                record.id, "awaiting_pilot", f"sent by {who.name}; waiting for the pilot"
            )
            self._publish_sortie(active, "awaiting_pilot")
            return
        await self._launch(active, who)

    async def confirm(self, sortie_id: int, who: Principal) -> SortieRecord:
        """The pilot confirms a launch held for them. Raises LaunchNotPending."""
        active = self.board.get(sortie_id)
        if active is None or active.executor is not None:
            raise LaunchNotPending(f"sortie {sortie_id} is not waiting for a pilot")
        await self._launch(active, who)
        return await self.store.get_sortie(sortie_id)

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
        if self.video is not None:
            await self.video.sortie_started(active.station.drone.id, active.call.id, record.id)
            self._streams_changed()  # and is being recorded
        active.executor = FlightExecutor(
            self.fleet.drone(active.station.id),
            active.route,
            active.station.drone,
            self.deployment.defaults.on_scene_s,
            call_id=str(active.call.id),
            station_id=active.station.id,
            settings=self.executor_settings,
            docked=self._claim_dock(active.station.id),
        )
        self._spawn(self._fly(active), f"sortie {active.record.id}")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        self.bus.publish(
            Event(
                "alert",
                {
                    "severity": "critical",
                    "station_id": station.id,
                    "drone_id": station.drone.id,
                    "call_id": active.call.id,
                    "message": message,
                },
            )
        )

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
        if executor.transfers and not active.transfers_saved:
            await self.store.record_transfers(
                active.record.id,
                {
                    kind: {way: [asdict(item) for item in items] for way, items in ways.items()}
                    for kind, ways in executor.transfers.items()
                },
            )
            active.transfers_saved = True  # a failed write is tried again next round
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

    # -- after a restart (see dfr.sortie_recovery) -----------------------------------

    async def adopt(self, record: SortieRecord, call: CallRecord, station: Station) -> None:
        """Follow a sortie that was flying when this server started, from the state the
        store last recorded and what the vehicle reports."""
        scene = GeoPoint(call.latitude_deg, call.longitude_deg)
        route = self.deployment.planner.restored(record.route, scene)
        try:
            recorded = SortieState(record.state)
        except ValueError:  # reserved or awaiting the pilot: it took off since
            recorded = SortieState.LAUNCHING
        active = ActiveSortie(
            record,
            call,
            station,
            route,
            record.eta_s or 0.0,
            launched_by=record.launched_by,
            launched_at=record.launched_at,
        )
        active.executor = FlightExecutor.adopting(
            self.fleet.drone(station.id),
            route,
            station.drone,
            self.deployment.defaults.on_scene_s,
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
        self._spawn(self._fly(active), f"sortie {record.id} (adopted)")

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
            self.bus.publish(
                Event(
                    "alert",
                    {
                        "severity": "warning",
                        "station_id": station.id,
                        "drone_id": station.drone.id,
                        "call_id": record.call_id,
                        "message": f"sortie {record.id}: " + "; ".join(alerts),
                    },
                )
            )
        await self.serve_queue("system")
        if final_state is SortieState.DOCKED:
            self._prepare_dock(station)
