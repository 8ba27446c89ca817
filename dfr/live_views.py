"""What the consoles, the health check and the video gate see of the live system, cut to
who asks: the health of the drones this server links, the deployment, each station with
its drone, the video streams and the console feed.

A signed-in user sees their agencies' records (`dfr.agency_scope`); a share link sees
the drone flying for its call, and only while it does (`station_serving`: the one scope
rule of a share link, for REST, the WebSocket, the stream list and WHEP). With several
servers on one database, a drone another server links is shown as that server last
reported it (`Peers.relay`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from dfr.active_sorties import SortieBoard
from dfr.agency_scope import AgencyScope
from dfr.auth import Principal
from dfr.camera_views import camera_of_stream
from dfr.console_views import drone_json, share_link_view, streams_of_call
from dfr.deployment import Deployment
from dfr.dock_prep import DockPreparation
from dfr.event_relay import EventRelay
from dfr.events import Event, EventBus
from dfr.link_leases import LinkLeases
from dfr.loop_lag import LoopLag
from dfr.purposes import purposes_json
from dfr.recommend import DroneAvailability
from dfr.sortie_recovery import SortieRecovery
from missions.profile import Station
from stations.fleet import Fleet


class VideoStreams(Protocol):
    def streams(self) -> list[dict[str, Any]]: ...


@dataclass
class Peers:
    """The other servers on this server's database: its drone-link leases and the events
    between servers, while running on PostgreSQL; both None on SQLite (one server)."""

    leases: LinkLeases | None = None
    relay: EventRelay | None = None


class LiveViews:
    def __init__(
        self,
        deployment: Deployment,
        fleet: Fleet,
        board: SortieBoard,
        dock: DockPreparation,
        scope: AgencyScope,
        bus: EventBus,
        peers: Peers,
        video: VideoStreams | None,
        loop_lag: LoopLag,
        recovery: SortieRecovery,
    ) -> None:
        self.deployment = deployment
        self._fleet = fleet
        self._board = board
        self._dock = dock
        self._scope = scope
        self._bus = bus
        self._peers = peers
        self._video = video
        self._loop_lag = loop_lag
        self._recovery = recovery

    def health(self) -> dict[str, Any]:
        available = fleet_availability(self._fleet)
        # With several servers, each answers for the drones it links.
        linked = [s for s in self.deployment.stations if self._fleet.permitted(s.id)]
        drones = {s.drone.id: available[s.id].online for s in linked}

        def ready(station_id: str) -> bool:
            a = available[station_id]
            return (
                a.online
                and a.docked
                and a.healthy
                and not a.maintenance
                and self._board.for_station(station_id) is None
                and self._dock.setup(station_id) is not None
            )

        return {
            "ok": all(drones.values()),
            "deployment": self.deployment.name,
            "drones": drones,
            # On its dock, healthy, its set-up verified, free: a dispatch now takes it.
            "ready": {s.drone.id: ready(s.id) for s in self.deployment.stations},
            "event_loop_lag": self._loop_lag.report(),
            # Sorties the last run left open and not yet settled, by station.
            "inherited_sorties": self._recovery.pending,
            # Several servers on one database: the drones another server links, by holder.
            "linked_elsewhere": self.linked_elsewhere(),
        }

    def linked_elsewhere(self) -> dict[str, str]:
        """Drone id → the server holding its link, for drones this server does not link."""
        leases = self._peers.leases
        if leases is None:
            return {}
        out = {}
        for station in self.deployment.stations:
            holder = leases.holder_of(station.drone.id)
            if holder is not None and holder != leases.holder:
                out[station.drone.id] = holder
        return out

    def deployment_view(self, who: Principal | None = None) -> dict[str, Any]:
        d = self.deployment
        return {
            "name": d.name,
            "launch_policy": d.launch_policy,
            # The calls a drone flies to without a click, and how many at once.
            "auto_launch": {
                "max_concurrent": d.launch_policies.max_concurrent,
                "policies": [p.describe() for p in d.launch_policies.policies],
            },
            "tile_url": d.tile_url,
            "cruise_alt_m": d.defaults.cruise_alt_m,
            "on_scene_s": d.defaults.on_scene_s,
            "launch_purposes": purposes_json(),
            # What the public flight log calls a flight for each call type (and the rest).
            "public_categories": d.public_categories.model_dump(),
            "stations": [
                {
                    "id": s.id,
                    "name": s.name,
                    "latitude_deg": s.position.latitude_deg,
                    "longitude_deg": s.position.longitude_deg,
                    "drone_id": s.drone.id,
                    "agency": d.agencies.of_station(s.id),
                }
                for s in d.stations
                if who is None or self._scope.sees_station(who, s.id)
            ],
            # The agencies (none: one implicit agency) and their mutual-aid rules.
            "agencies": [
                {"id": a.id, "name": a.name, "stations": sorted(a.stations)}
                for a in d.agencies.agencies
            ],
            "mutual_aid": [
                {"owner": owner, "into": into, "rule": str(rule)}
                for (owner, into), rule in sorted(d.agencies.rules.items())
            ],
        }

    def airspace_geojson(self) -> dict[str, Any]:
        return dict(self.deployment.airspace.geojson)

    def drone_view(self, station: Station) -> dict[str, Any]:
        """The station's drone as the consoles show it; one another server links, as that
        server last reported it (with `linked_by`)."""
        relay = self._peers.relay
        if relay is not None and not self._fleet.permitted(station.id):
            remote = relay.remote_drone(station.drone.id)
            if remote is not None:
                return remote
        return drone_json(
            station,
            self._fleet.drone(station.id),
            self._board.for_station(station.id),
            self._dock.setup(station.id) is not None,
        )

    def drone_views(self) -> list[dict[str, Any]]:
        return [self.drone_view(s) for s in self.deployment.stations]

    def stations_view(self, who: Principal) -> list[dict[str, Any]]:
        """Every station with its drone's live state (share links: the drone on their call)."""
        views: list[dict[str, Any]] = [
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
        if who.call_id is not None:
            views = [v for v in views if v["id"] == self.station_serving(who.call_id)]
        return [v for v in views if self._scope.sees_station(who, v["id"])]

    def all_video_streams(self) -> list[dict[str, Any]]:
        return self._video.streams() if self._video is not None else []

    def video_streams(self, who: Principal) -> list[dict[str, Any]]:
        """Signed-in consoles see every stream of their agencies (drones flying calls shared
        with them too); a share link its call's drone's only."""
        streams = self.all_video_streams()
        if who.call_id is None:
            return [s for s in streams if self._scope.sees_stream(who, s)]
        return streams_of_call(streams, who.call_id, self.station_serving(who.call_id))

    def may_watch(self, who: Principal, stream_id: str) -> bool:
        """A share link its call's drone's stream; an agency's user the streams of its
        drones (and of drones flying calls it sees) and of its fixed cameras."""
        if who.call_id is None:
            camera_id = camera_of_stream(stream_id)
            if camera_id is not None:
                return self._scope.sees_camera(who, camera_id)
            station_id = self._scope.station_of_drone(stream_id)
            return station_id is None or self._scope.sees_station(who, station_id)
        return any(s["stream_id"] == stream_id for s in self.video_streams(who))

    def streams_event(self) -> Event:
        """The live video streams, as the consoles' stream lists show them."""
        return Event("streams", {"streams": self.all_video_streams()})

    def publish_streams(self) -> None:
        self._bus.publish(self.streams_event())

    async def view_for(self, principal: Principal, event: Event) -> Event | None:
        """What of `event` a console may see: officers on a share link see their call only;
        with agencies, a console sees its agencies' calls, drones and alerts only."""
        if principal.call_id is None:
            return await self._scope.event_view(principal, event)
        return share_link_view(event, principal.call_id, self.station_serving(principal.call_id))

    async def console_events(self, principal: Principal) -> AsyncIterator[dict[str, Any]]:
        """The console feed as `principal` may see it: the stream list first, then live events."""
        first = await self.view_for(principal, self.streams_event())
        if first is not None:
            yield first.as_json()
        async for event in self._bus.stream():
            visible = await self.view_for(principal, event)
            if visible is not None:
                yield visible.as_json()

    def station_serving(self, call_id: int) -> str | None:
        """The one scope rule of a share link: the station whose drone flies for its call
        now (None once no drone does, even if the same drone moves on to another call)."""
        active = self._board.for_call(call_id)
        return active.station.id if active is not None else None


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
