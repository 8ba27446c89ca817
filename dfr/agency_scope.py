"""Who sees what, by agency (dfr.agencies): the calls, sorties, stations, fixed cameras,
live video, console messages, audit entries and video views a principal may see, and the
drones it may command. A deployment without agencies lets everyone see everything (a
principal's `agencies` is None); a principal scoped to one call (a share link, an
officer's request) sees that call whoever's it is.

Another agency's call, sortie or station is as good as absent (the store's `NotFound`,
`UnknownStationId`); commanding another agency's drone it sees is `NotYourAgency`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dfr.active_sorties import SortieBoard
from dfr.agencies import may_see
from dfr.auth import Principal
from dfr.camera_views import camera_of_stream
from dfr.deployment import Deployment
from dfr.events import Event
from dfr.store import (
    REFUSED,
    AuditEntry,
    CallRecord,
    NotFound,
    SortieRecord,
    Store,
    VideoViewRecord,
)


class AgencyScopeError(Exception):
    """Base of the scope's errors (the API maps them to HTTP, see dfr.api.errors)."""


class UnknownStationId(AgencyScopeError):
    """No station (or drone) with that id, or none the principal sees."""


class NotYourAgency(AgencyScopeError):
    """Another agency's drone: only its own agency commands it or confirms its launch."""


class AgencyScope:
    def __init__(
        self,
        deployment: Deployment,
        store: Store,
        board: SortieBoard,
        agency_of_user: Callable[[str], str | None],
    ) -> None:
        self.deployment = deployment
        self._store = store
        self.board = board
        self._agency_of_user = agency_of_user

    def sees_call(self, who: Principal, call: CallRecord) -> bool:
        """Its agencies' calls and those shared with them; a principal scoped to one call
        (a share link, an officer's request) that call, whoever's it is."""
        if who.call_id is not None:
            return call.id == who.call_id
        return may_see(who.agencies, (call.agency, *call.shared_with))

    def sees_station(self, who: Principal, station_id: str) -> bool:
        """Its agency's stations, and a drone flying a call it sees (mutual aid); one
        scoped to a call is shown the drone serving it, whoever's it is."""
        if who.agencies is None or who.call_id is not None:
            return True
        if may_see(who.agencies, [self.deployment.agencies.of_station(station_id)]):
            return True
        active = self.board.for_station(station_id)
        return active is not None and self.sees_call(who, active.call)

    def sees_stream(self, who: Principal, stream: dict[str, Any]) -> bool:
        camera_id = camera_of_stream(str(stream.get("stream_id", "")))
        if camera_id is None:
            return self.sees_station(who, str(stream.get("station_id")))
        return self.sees_camera(who, camera_id)

    def sees_camera(self, who: Principal, camera_id: str) -> bool:
        """A fixed camera is seen by the agency whose jurisdiction it stands in."""
        if who.agencies is None:
            return True
        camera = self.deployment.cameras.get(camera_id)
        if camera is None:
            return False
        return may_see(who.agencies, [self.deployment.agencies.agency_at(camera.position)])

    async def visible_call(self, who: Principal, call_id: int) -> CallRecord:
        """The call if `who` may see it; another agency's is as good as absent. Raises
        NotFound."""
        call = await self._store.get_call(call_id)
        if not self.sees_call(who, call):
            raise NotFound(f"no call {call_id}")
        return call

    async def visible_share_link(self, who: Principal, link_id: str) -> None:
        """Raises NotFound for a share link of a call `who` does not see."""
        if who.agencies is None:
            return
        links = await self._store.share_links(link_id=link_id)
        if not links or not await self.sees_call_id(who, links[0].call_id, {}):
            raise NotFound(f"no share link {link_id!r}")

    async def visible_sortie(self, who: Principal, sortie_id: int) -> SortieRecord:
        """The sortie if `who` sees its drone's agency or its call. Raises NotFound."""
        record = await self._store.get_sortie(sortie_id)
        if who.agencies is None or await self.sees_sortie(who, record, {}):
            return record
        raise NotFound(f"no sortie {sortie_id}")

    def check_station(self, who: Principal, station_id: str) -> None:
        """Raises UnknownStationId for a station `who` does not see."""
        if not self.sees_station(who, station_id):
            raise UnknownStationId(f"no station {station_id!r}")

    def check_drone(self, who: Principal, drone_id: str) -> None:
        """Raises UnknownStationId for a drone `who` does not see."""
        station_id = self.station_of_drone(drone_id)
        if station_id is not None and not self.sees_station(who, station_id):
            raise UnknownStationId(f"no drone {drone_id!r}")

    async def check_commander(self, who: Principal, drone_id: str, command: str) -> None:
        """Raises UnknownStationId for a drone `who` does not see, and NotYourAgency for
        another agency's drone it sees (flying a call shared with it): only the drone's
        own agency commands it. That refusal is audited with both agencies."""
        self.check_drone(who, drone_id)
        station_id = self.station_of_drone(drone_id)
        if station_id is None or who.agencies is None:
            return
        owner = self.deployment.agencies.of_station(station_id)
        if owner not in who.agencies:
            why = f"drone {drone_id!r} is agency {owner!r}'s: its pilots command it"
            details = {"agencies": [owner, who.agency]}
            subject = f"drone:{drone_id}"
            await self._store.audit(who.name, f"command.{command}", subject, details, REFUSED, why)
            raise NotYourAgency(why)

    async def sees_sortie(
        self, who: Principal, record: SortieRecord, calls: dict[int, CallRecord]
    ) -> bool:
        if may_see(who.agencies, [self.deployment.agencies.of_station(record.station_id)]):
            return True
        if record.call_id is None:
            return False
        if record.call_id not in calls:
            calls[record.call_id] = await self._store.get_call(record.call_id)
        return self.sees_call(who, calls[record.call_id])

    async def sees_call_id(
        self, who: Principal, call_id: int, calls: dict[int, CallRecord]
    ) -> bool:
        if call_id not in calls:
            try:
                calls[call_id] = await self._store.get_call(call_id)
            except NotFound:
                return False
        return self.sees_call(who, calls[call_id])

    def station_of_drone(self, drone_id: object) -> str | None:
        return next((s.id for s in self.deployment.stations if s.drone.id == drone_id), None)

    async def event_view(self, who: Principal, event: Event) -> Event | None:
        """What of `event` a console of `who`'s agencies may see (all, without agencies):
        telemetry and streams of the drones it sees, events of the calls it sees, alerts
        and figures of its drones; anything naming none of these, nothing."""
        if who.agencies is None:
            return event
        data = event.data
        if event.kind == "telemetry":
            mine = [d for d in data["drones"] if self.sees_station(who, d["station_id"])]
            return Event("telemetry", {**data, "drones": mine})
        if event.kind == "streams":
            streams = [s for s in data["streams"] if self.sees_stream(who, s)]
            return Event("streams", {"streams": streams})
        if event.kind == "call":
            call = data["call"]
            owners = (call.get("agency"), *call.get("shared_with", ()))
            return event if may_see(who.agencies, owners) else None
        call_id = data.get("call_id")
        if isinstance(call_id, int) and not isinstance(call_id, bool):
            return event if await self.sees_call_id(who, call_id, {}) else None
        station_id = data.get("station_id") or self.station_of_drone(data.get("drone_id"))
        if isinstance(station_id, str):
            return event if self.sees_station(who, station_id) else None
        return None

    async def visible_video_views(
        self, who: Principal, records: list[VideoViewRecord]
    ) -> list[VideoViewRecord]:
        """Views of the streams `who`'s agencies own, or watched for calls it sees."""
        if who.agencies is None:
            return records
        calls: dict[int, CallRecord] = {}
        out = []
        for view in records:
            camera_id = camera_of_stream(view.stream_id)
            station_id = self.station_of_drone(view.stream_id)
            if camera_id is not None:
                seen = self.sees_camera(who, camera_id)
            else:
                owner = self.deployment.agencies.of_station(station_id) if station_id else None
                seen = station_id is not None and may_see(who.agencies, [owner])
            if not seen and view.call_id is not None:
                seen = await self.sees_call_id(who, view.call_id, calls)
            if seen:
                out.append(view)
        return out

    def agency_of_actor(self, actor: str) -> str | None:
        """A user's agency; a launch policy's (`policy:<name>`)."""
        if actor.startswith("policy:"):
            name = actor.removeprefix("policy:")
            policy = next(
                (p for p in self.deployment.launch_policies.policies if p.name == name), None
            )
            return policy.agency if policy is not None else None
        return self._agency_of_user(actor)

    async def visible_audit(self, who: Principal, entries: list[AuditEntry]) -> list[AuditEntry]:
        """The entries `who` may read: about its agencies' calls, sorties and stations,
        naming its agencies (a cross-agency action names both), or by its users."""
        if who.agencies is None:
            return entries
        calls: dict[int, CallRecord] = {}
        sorties: dict[int, bool] = {}
        agencies = self.deployment.agencies
        out = []
        for entry in entries:
            named = entry.details.get("agencies") if isinstance(entry.details, dict) else None
            kind, _, ident = entry.subject.partition(":")
            if isinstance(named, list):
                seen = may_see(who.agencies, [a for a in named if a is not None])
            elif kind == "call" and ident.isdigit():
                seen = await self.sees_call_id(who, int(ident), calls)
            elif kind == "sortie" and ident.isdigit():
                sortie_id = int(ident)
                if sortie_id not in sorties:
                    try:
                        record = await self._store.get_sortie(sortie_id)
                        sorties[sortie_id] = await self.sees_sortie(who, record, calls)
                    except NotFound:
                        sorties[sortie_id] = False
                seen = sorties[sortie_id]
            elif kind == "station":
                seen = may_see(who.agencies, [agencies.of_station(ident)])
            elif kind == "drone":
                station_id = self.station_of_drone(ident)
                seen = station_id is not None and self.sees_station(who, station_id)
            else:
                actor_agency = self.agency_of_actor(entry.actor)
                seen = actor_agency is not None and actor_agency in who.agencies
            if seen:
                out.append(entry)
        return out
