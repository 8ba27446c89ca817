"""The dispatcher: store each call, rank stations, reserve a drone atomically, queue the rest.

Errors::

    DispatchError            (Exception)
    ├── DroneTaken           the chosen station's drone was taken meanwhile (HTTP 409)
    ├── StationUnavailable   the chosen station cannot take this call, with the reason
    ├── UnknownStation       no such station in the deployment
    └── Unservable           no station could ever serve this call (airspace, range)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from dfr.deployment import Deployment
from dfr.eta import EtaParameters
from dfr.eta_calibration import DroneEta
from dfr.recommend import (
    AirborneDrone,
    Candidate,
    DroneAvailability,
    ExclusionKind,
    Recommendation,
    recommend,
)
from dfr.store import (
    OPEN_CALL_STATES,
    CallRecord,
    Conflict,
    NewCall,
    NotFound,
    NotRetaskable,
    Retasked,
    SortieRecord,
    Store,
)
from missions.geo import GeoPoint

AvailabilityFn = Callable[[], Mapping[str, DroneAvailability]]
DroneEtaFn = Callable[[], Mapping[str, DroneEta]]
AirborneFn = Callable[[], Mapping[str, AirborneDrone]]


class DispatchError(Exception):
    """Base of the dispatcher's errors."""


class DroneTaken(DispatchError):
    """The drone was reserved by someone else between the ranking and the reservation."""


class StationUnavailable(DispatchError):
    """The chosen station is excluded for this call."""


class UnknownStation(DispatchError):
    """No station with that id."""


class MutualAidRefused(StationUnavailable):
    """The station's agency may never fly into the call's agency's jurisdiction."""


class Unservable(DispatchError):
    """Every station is excluded for reasons that waiting will not change."""


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """A dispatch: the sortie and the candidate it flies, or the call queued."""

    call: CallRecord
    recommendation: Recommendation
    sortie: SortieRecord | None = None
    candidate: Candidate | None = None
    #: A drone re-tasked in flight: the call it served before, as it was then.
    retasked_from: Retasked | None = None
    #: The drone in flight ranked best did not take the new mission (why): this result
    #: is the next best on its dock (or the call queued).
    retask_failed: str | None = None

    @property
    def queued(self) -> bool:
        return self.sortie is None


class Dispatcher:
    """Calls in, drones out. One per deployment; the store may be shared by several."""

    def __init__(
        self,
        deployment: Deployment,
        store: Store,
        availability: AvailabilityFn | None = None,
        params: EtaParameters | None = None,
        drone_eta: DroneEtaFn | None = None,
        airborne: AirborneFn | None = None,
    ) -> None:
        """`drone_eta` gives each drone's own ETA figures (`dfr.fleet_eta`); drones it
        leaves out are ranked by `params`, by default the deployment's. `airborne`: the
        drones flying sorties, by station id, which a call may re-task."""
        self.deployment = deployment
        self.store = store
        self.params = params or deployment.eta
        self._availability = availability
        self._drone_eta = drone_eta
        self._airborne = airborne
        self._serving = asyncio.Lock()

    async def start(self) -> None:
        await self.store.register_drones((s.drone.id, s.id) for s in self.deployment.stations)

    async def create_call(self, call: NewCall, actor: str) -> CallRecord:
        """Validate and store a call; it is on disk when this returns. With agencies, it is
        the agency's whose jurisdiction it is in, shared with the one that reported it
        (`call.agency`) when that is another."""
        reporter = call.agency
        record = await self.store.add_call(self.with_agency(call), actor)
        return await self._share_with_reporter(record, reporter, actor)

    async def take_external_call(self, call: NewCall, actor: str) -> tuple[CallRecord, bool]:
        """As `create_call`, once per (source, external_id); (call, newly stored)."""
        reporter = call.agency
        record, created = await self.store.add_external_call(self.with_agency(call), actor)
        if created:
            record = await self._share_with_reporter(record, reporter, actor)
        return record, created

    def with_agency(self, call: NewCall) -> NewCall:
        """The call with its agency: whose jurisdiction the scene is in; outside every
        one, the reporting user's or source's. Raises CoordinateError."""
        scene = GeoPoint(call.latitude_deg, call.longitude_deg)  # raises CoordinateError
        agencies = self.deployment.agencies
        if not agencies:
            return replace(call, agency=None)
        reporter = call.agency or agencies.of_source(call.source)
        return replace(call, agency=agencies.agency_at(scene, reporter))

    async def _share_with_reporter(
        self, record: CallRecord, reporter: str | None, actor: str
    ) -> CallRecord:
        agencies = self.deployment.agencies
        asked = reporter if reporter in agencies.ids else None
        if asked is None or asked == record.agency:
            return record
        return await self.store.share_call_with_agency(
            record.id, asked, actor, {"why": "reported by this agency"}
        )

    async def availability(self) -> dict[str, DroneAvailability]:
        """Live drone state merged with the store's reservations, by station id."""
        live = dict(self._availability()) if self._availability else {}
        held = await self.store.drone_sorties()
        out = {}
        for station in self.deployment.stations:
            state = live.get(station.id, DroneAvailability())
            sortie = held.get(station.drone.id)
            if sortie is not None:
                state = replace(state, sortie_id=str(sortie))
            out[station.id] = state
        return out

    async def recommend(
        self, scene: GeoPoint, priority: int | None = None, agency: str | None = None
    ) -> Recommendation:
        """Rank the stations for `scene`; with a call's `priority`, drones in the air that
        could be re-tasked to it are ranked too."""
        drone_eta = self._drone_eta() if self._drone_eta is not None else None
        airborne = self._airborne() if self._airborne is not None else None
        return recommend(
            self.deployment,
            scene,
            await self.availability(),
            self.params,
            drone_eta=drone_eta,
            airborne=airborne,
            priority=priority,
            agency=agency,
        )

    async def recommend_call(self, call_id: int) -> Recommendation:
        call = await self.store.get_call(call_id)
        scene = GeoPoint(call.latitude_deg, call.longitude_deg)
        return await self.recommend(scene, call.priority, call.agency)

    async def dispatch(
        self,
        call_id: int,
        actor: str,
        station_id: str | None = None,
        *,
        queue: bool = True,
        policy: str | None = None,
        retask: bool = True,
    ) -> DispatchResult:
        """Send the best (or the chosen) station's drone to a call.

        With no station chosen, a call nobody can serve now is queued (`queue=False`:
        left as it is, the result saying why in its recommendation). `policy`: the launch
        policy sending it. `retask=False`: only docked drones, never one in flight (the
        queue served with nobody clicking). Raises DroneTaken, StationUnavailable,
        UnknownStation, Unservable, and the store's NotFound/Conflict (a call already
        dispatched or closed).
        """
        call = await self.store.get_call(call_id)
        if call.status not in OPEN_CALL_STATES:
            # Else, with no drone free, it would be queued again: and flown to later.
            raise Conflict(f"call {call_id} is {call.status}")
        rec = await self.recommend_call(call_id)
        if station_id is not None:
            return await self._dispatch_to(call, rec, station_id, actor, policy)
        for candidate in rec.candidates:
            if candidate.airborne and not retask:
                continue
            result = await self._reserve(call, rec, candidate, actor, policy)
            if result is not None:
                return result
        if rec.excluded and all(e.lasting for e in rec.excluded) and not rec.candidates:
            reasons = "; ".join(f"{e.station_id}: {e.reason}" for e in rec.excluded)
            raise Unservable(f"no station can serve call {call_id}: {reasons}")
        if not queue:
            return DispatchResult(call, rec)
        if call.status != "queued":
            call = await self.store.set_call_status(call_id, "queued", actor)
        return DispatchResult(call, rec)

    async def _dispatch_to(
        self,
        call: CallRecord,
        rec: Recommendation,
        station_id: str,
        actor: str,
        policy: str | None = None,
    ) -> DispatchResult:
        try:
            self.deployment.station(station_id)
        except KeyError:
            raise UnknownStation(f"no station {station_id!r}") from None
        chosen = next((c for c in rec.candidates if c.station_id == station_id), None)
        if chosen is None:
            why = next((e for e in rec.excluded if e.station_id == station_id), None)
            if why is None:
                agencies = self.deployment.agencies
                owner = agencies.of_station(station_id)
                raise MutualAidRefused(
                    f"station {station_id!r} is agency {owner!r}'s, whose drones may never fly"
                    f" into agency {call.agency!r}'s jurisdiction (mutual aid: never)"
                )
            if why.kind is ExclusionKind.ON_SORTIE:
                raise DroneTaken(f"station {station_id!r}: {why.reason}")
            raise StationUnavailable(f"station {station_id!r} cannot take this call: {why.reason}")
        result = await self._reserve(call, rec, chosen, actor, policy)
        if result is None:
            raise DroneTaken(f"station {station_id!r}: drone {chosen.drone_id} was taken meanwhile")
        return result

    async def _reserve(
        self,
        call: CallRecord,
        rec: Recommendation,
        candidate: Candidate,
        actor: str,
        policy: str | None = None,
    ) -> DispatchResult | None:
        if candidate.retask_sortie_id is not None:
            return await self._retask(call, rec, candidate, actor)
        sortie = await self.store.reserve(
            candidate.drone_id,
            candidate.station_id,
            call.id,
            actor,
            eta_s=round(candidate.eta_s, 2),
            route=candidate.route.as_geojson(),
            policy=policy,
        )
        if sortie is None:
            return None
        candidate = replace(candidate, route=self.deployment.planner.fenced(candidate.route))
        call = await self.store.get_call(call.id)
        return DispatchResult(call, rec, sortie, candidate)

    async def _retask(
        self, call: CallRecord, rec: Recommendation, candidate: Candidate, actor: str
    ) -> DispatchResult | None:
        """Move the flying sortie to this call in the store (the flight follows, see
        `SortieRunner.retask`); None when the sortie is no longer the one to re-task."""
        assert candidate.retask_sortie_id is not None
        try:
            retasked = await self.store.retask(
                candidate.retask_sortie_id,
                call.id,
                actor,
                eta_s=round(candidate.eta_s, 2),
                route=candidate.route.as_geojson(),
                from_call_id=candidate.retask_from_call_id,
            )
        except NotRetaskable:
            return None
        station = self.deployment.station(candidate.station_id)
        fenced = self.deployment.planner.fenced(candidate.route, home=station.position)
        return DispatchResult(
            retasked.call, rec, retasked.sortie, replace(candidate, route=fenced), retasked
        )

    async def release(
        self, sortie_id: int, final_state: str, actor: str, cause: str = ""
    ) -> list[DispatchResult]:
        """End a sortie, free its drone, and serve the queue with it."""
        await self.store.release(sortie_id, final_state, actor, cause)
        return await self.serve_queue(actor)

    async def serve_queue(self, actor: str = "dispatcher") -> list[DispatchResult]:
        """Dispatch queued calls, most urgent first, while drones can take them. One
        round at a time; a call closed or dispatched meanwhile is passed over."""
        served = []
        async with self._serving:
            for call in await self.store.queued_calls():
                try:
                    result = await self.dispatch(call.id, actor, retask=False)
                except (Unservable, Conflict, NotFound):
                    continue
                if not result.queued:
                    served.append(result)
        return served
