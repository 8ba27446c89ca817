"""EIDO intake: an incident from CAD (NENA-STA-021) becomes a call, and each later
version of it updates that call.

One path for every EIDO, whether it was posted (`POST /api/eido`) or notified to the
NENA-STA-024 subscriber (`dfr.eido_subscriber`):

    read (dfr.eido) → priority from the deployment's [eido] → store the version
    (Store.take_call_version) → tell the consoles → a moved scene: alert the pilot

The incident's tracking id is the call's `external_id` (source "eido"), and its
`lastUpdateTimeStamp` the version: the first version stores a call (201), the same one
again changes nothing, an earlier one is ignored (both 200, saying so), and a later one
updates the call's position, uncertainty, priority, summary and type, audited with what
changed. A call no drone has been sent to yet just has the new position: the
recommendation ranks by it. When a drone is already on the call, the move is recorded on
its sortie (`call.scene_moved`), the pilot console gets an alert with the distance, and
the operations service's `retarget_airborne_drone` hook is asked to re-task the drone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dfr.active_sorties import ActiveSortie, SortieBoard
from dfr.console_views import call_event
from dfr.deployment import EidoSection
from dfr.eido import EidoIncident, incident_of, read_eido
from dfr.events import Event, EventBus
from dfr.store import CallRecord, CallVersion, NewCall, Store, VersionOutcome
from missions.geo import GeoPoint

#: The source of the calls EIDOs make (with the incident tracking id as external_id).
EIDO_SOURCE = "eido"
#: A new version whose position moved less than this is not a moved scene.
SCENE_MOVED_MIN_M = 1.0
#: What the pilot is told to do when nothing re-tasked the drone.
REPLAN_ADVICE = "re-plan with Reposition"

Retarget = Callable[[ActiveSortie, GeoPoint], Awaitable[bool]]
"""Re-task the drone of an active sortie to a call's new scene; True when it was."""


@dataclass(frozen=True, slots=True)
class EidoResult:
    """What one EIDO did."""

    call: CallRecord
    outcome: VersionOutcome
    detail: str  # what happened, in a sentence, for the sender
    moved_m: float | None = None  # an update: how far the scene moved
    alert: str | None = None  # the pilot alert it raised (a drone was on the call)


class EidoIntake:
    def __init__(
        self,
        section: EidoSection,
        store: Store,
        board: SortieBoard,
        bus: EventBus,
        retarget: Retarget,
        with_agency: Callable[[NewCall], NewCall] | None = None,
    ) -> None:
        """`with_agency`: the call given its agency (dfr.agencies), before it is stored."""
        self._with_agency = with_agency
        self._section = section
        self._store = store
        self._board = board
        self._bus = bus
        self._retarget = retarget

    async def take(self, body: bytes, actor: str, agency: str | None = None) -> EidoResult:
        """An EIDO's JSON text (`agency`: the agency whose secret it came with). Raises
        dfr.eido's EidoError (nothing is stored)."""
        # Reading is CPU work (JSON, the schema, XML) of up to a body's limit: in a
        # worker thread, so the event loop keeps pushing telemetry meanwhile.
        return await self._take(await asyncio.to_thread(read_eido, body), actor, agency)

    async def take_document(self, document: object, actor: str) -> EidoResult:
        """An EIDO already decoded from JSON (a notification's). Raises EidoError."""
        return await self._take(await asyncio.to_thread(incident_of, document), actor)

    async def _take(
        self, incident: EidoIncident, actor: str, agency: str | None = None
    ) -> EidoResult:
        call = NewCall(
            incident.location.latitude_deg,
            incident.location.longitude_deg,
            self._section.priority_for(incident.incident_type, incident.internal_type_code),
            EIDO_SOURCE,
            incident.summary,
            incident.incident_id,
            incident.call_type,
            location_uncertainty_m=incident.uncertainty_m,
            source_updated_at=incident.version,
            agency=agency,
        )
        if self._with_agency is not None:
            call = self._with_agency(call)
        version = await self._store.take_call_version(call, actor)
        record = version.call
        match version.outcome:
            case VersionOutcome.CREATED:
                self._bus.publish(call_event(record))
                return EidoResult(record, version.outcome, f"stored as call {record.id}")
            case VersionOutcome.UNCHANGED:
                detail = f"call {record.id} already has this version: nothing changed"
                return EidoResult(record, version.outcome, detail)
            case VersionOutcome.STALE:
                detail = (
                    f"ignored: this version ({incident.version}) is older than call "
                    f"{record.id}'s ({record.source_updated_at})"
                )
                return EidoResult(record, version.outcome, detail)
        self._bus.publish(call_event(record))
        alert = await self._scene_moved(version, actor)
        detail = f"call {record.id} updated"
        if version.moved_m is not None and version.moved_m >= SCENE_MOVED_MIN_M:
            detail += f"; its scene moved {version.moved_m:.0f} m"
        return EidoResult(record, version.outcome, detail, version.moved_m, alert)

    async def _scene_moved(self, version: CallVersion, actor: str) -> str | None:
        """A drone on a call whose scene moved: record the move on its sortie, ask for the
        drone to be re-tasked, alert the pilots. Returns the alert's message."""
        moved_m = version.moved_m or 0.0
        active = self._board.for_call(version.call.id)
        if active is None or moved_m < SCENE_MOVED_MIN_M:
            return None
        assert version.before is not None
        call, station = version.call, active.station
        scene = GeoPoint(call.latitude_deg, call.longitude_deg)
        airborne = active.executor is not None
        retargeted = await self._retarget(active, scene) if airborne else False
        message = f"call {call.id}: scene moved {moved_m:.0f} m — " + (
            "the drone is re-tasked to the new scene" if retargeted else REPLAN_ADVICE
        )
        before = version.before
        await self._store.audit(
            actor,
            "call.scene_moved",
            f"sortie:{active.record.id}",
            {
                "call_id": call.id,
                "drone_id": station.drone.id,
                "sortie_state": active.state,
                "from": [before.latitude_deg, before.longitude_deg],
                "to": [call.latitude_deg, call.longitude_deg],
                "moved_m": round(moved_m, 1),
                "retargeted": retargeted,
            },
        )
        self._bus.publish(
            Event(
                "alert",
                {
                    "severity": "warning",
                    "kind": "scene_moved",
                    "station_id": station.id,
                    "drone_id": station.drone.id,
                    "call_id": call.id,
                    "sortie_id": active.record.id,
                    "moved_m": round(moved_m, 1),
                    "scene": [call.longitude_deg, call.latitude_deg],
                    "message": message,
                },
            )
        )
        return message
