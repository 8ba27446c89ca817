"""TAK out: dfr's picture as Cursor on Target, for fusion centers and field units on
ATAK, WinTAK and TAK Server.

``async with TakOut.running(settings, link, bus, open_calls, source) as tak:`` follows
the application's event bus and sends, through `dfr.tak_link`:

* every drone with a position that this server links (with several servers, each sends
  its own drones' tracks: another server's last report, relayed, would now and then
  send a drone back in time), as a track (`a-f-A-M-H-Q`) at most `track_rate_hz` times
  a second, stale `track_stale_s` after: the position, height, speed and course of the
  console telemetry it comes from (the same figures, the same instant: its time is the
  telemetry's), a remark with its station, sortie, call and battery, and a `__video`
  element when `[tak] video_rtsp` names the drone's RTSP URL;
* every call not closed, as a marker (`b-m-p-s-m`, uid `<prefix>.call.<id>`) when it
  is created or changes, and again every `call_stale_s / 3` and on every new connection,
  stale `call_stale_s` after; a call closed gets a last marker stale at once and a
  `t-x-d-d` delete (ATAK removes the marker; clients that ignore deletes see it stale);
* the camera's point of interest of each drone flying a sortie en route or on scene
  (`b-m-p-s-p-i`, uid `<prefix>.poi.<drone id>`, linked to its track): the route's point
  of interest, the scene that the mission's DO_SET_ROI_LOCATION points the camera at
  (dfr reads no gimbal attitude back, so this is where the camera is told to look,
  the scene itself when the drone holds at a stand-off point). When the sortie returns
  or ends it is marked stale and deleted as a closed call's marker is.

A slow or absent TAK server costs the event loop nothing: events wait in the link's
bounded outbox (the oldest tracks dropped first), and the bus already drops the oldest
events of a subscriber that falls behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dfr import cot
from dfr.deployment import TakSettings
from dfr.events import Event, EventBus
from dfr.store import CallRecord
from dfr.tak_link import TakLink, TakLinkSettings, TakLinkStatus

log = logging.getLogger(__name__)

OpenCalls = Callable[[], Awaitable[Sequence[CallRecord]]]
"""The calls not closed (at start: they get their markers before any change comes)."""

#: At start, at most this many open calls (the newest) get markers.
MAX_CALL_MARKERS = 500
#: A sortie in these has the camera on its scene.
POINT_OF_INTEREST_STATES = frozenset({"en_route", "on_scene"})
#: Below this ground speed a track's course is the drone's heading.
COURSE_MIN_SPEED_M_S = 1.0


@dataclass(frozen=True, slots=True)
class _Interest:
    """A drone's camera on a sortie's scene."""

    latitude_deg: float
    longitude_deg: float
    sortie_id: int | None
    call_id: int | None


class TakOut:
    def __init__(self, settings: TakSettings, link: TakLinkSettings, source: str) -> None:
        """`source`: who sends (the deployment's name), for the remarks."""
        self.settings = settings
        self.link = TakLink(settings, link, on_connected=self.announce)
        self._source = source
        self._prefix = settings.uid_prefix
        self._min_gap = timedelta(seconds=0.9 / settings.track_rate_hz)
        self._last_track_at: dict[str, datetime] = {}
        self._calls: dict[int, dict[str, Any]] = {}
        self._interests: dict[str, _Interest] = {}

    @property
    def status(self) -> TakLinkStatus:
        return self.link.status

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        settings: TakSettings,
        link: TakLinkSettings,
        bus: EventBus,
        open_calls: OpenCalls,
        source: str,
    ) -> AsyncIterator[TakOut]:
        """Send while the block runs: the open calls first, then what the bus brings."""
        tak = cls(settings, link, source)
        log.info("TAK out: %s", settings.describe())
        with bus.subscribe() as events:
            calls = sorted(await open_calls(), key=lambda c: c.id)[-MAX_CALL_MARKERS:]
            for call in calls:
                tak.take_call(asdict(call))
            tasks = [
                asyncio.create_task(tak.link.run(), name="TAK link"),
                asyncio.create_task(tak._follow(events), name="TAK events"),
                asyncio.create_task(tak._refresh(), name="TAK refresh"),
            ]
            try:
                yield tak
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    # -- what the bus brings ----------------------------------------------------------

    def take(self, event: Event) -> None:
        """Send what `event` changes of the picture (other kinds are passed over)."""
        if event.kind == "telemetry":
            at = datetime.fromisoformat(event.data["at"])
            for drone in event.data["drones"]:
                self.take_drone(drone, at)
        elif event.kind == "call":
            self.take_call(event.data["call"])
        elif event.kind == "sortie":
            self.take_sortie(event.data["sortie"])

    def take_drone(self, drone: dict[str, Any], at: datetime) -> None:
        """A drone's telemetry (as the consoles get it): a track, when one is due."""
        lat, lon = drone.get("latitude_deg"), drone.get("longitude_deg")
        if not drone.get("online") or lat is None or lon is None:
            return
        if drone.get("linked_by") is not None:
            return  # another server links it, and sends its track
        drone_id = drone["id"]
        last = self._last_track_at.get(drone_id)
        # By the telemetry's own clock, so tracks are spaced as their samples are; a
        # tenth of a period early still counts (telemetry comes at its own rate), and a
        # clock set back starts again.
        if last is not None and last <= at < last + self._min_gap:
            return
        self._last_track_at[drone_id] = at
        data = cot.drone_track(self._track(drone, lat, lon), at, self.settings.track_stale_s)
        self.link.outbox.put(data, track=True, stale_s=self.settings.track_stale_s)

    def take_call(self, call: dict[str, Any]) -> None:
        """A call created or changed: its marker; a call closed: its marker removed."""
        call_id = int(call["id"])
        if call["status"] == "closed":
            self._calls.pop(call_id, None)
            marker = self._call_marker(call)
            now = datetime.now(UTC)
            self.link.outbox.put(cot.call_marker(marker, now, 0.0))
            self.link.outbox.put(cot.deletion(marker.uid, cot.CALL_TYPE, now, marker.point))
            return
        self._calls[call_id] = call
        self._send_call(call, datetime.now(UTC))

    def take_sortie(self, sortie: dict[str, Any]) -> None:
        """A sortie's state: the camera's point of interest while it is on its way or on
        scene; removed when it returns or ends."""
        drone_id = sortie["drone_id"]
        target = sortie.get("point_of_interest")
        now = datetime.now(UTC)
        if sortie["state"] in POINT_OF_INTEREST_STATES and target is not None:
            lon, lat = target
            looking = _Interest(lat, lon, sortie.get("id"), sortie.get("call_id"))
            self._interests[drone_id] = looking
            self._send_interest(drone_id, looking, now)
            return
        looked = self._interests.pop(drone_id, None)
        if looked is not None:
            poi = self._point_of_interest(drone_id, looked)
            self.link.outbox.put(cot.point_of_interest(poi, now, 0.0))
            self.link.outbox.put(cot.deletion(poi.uid, cot.POINT_OF_INTEREST_TYPE, now, poi.point))

    def announce(self) -> None:
        """Queue every open call's marker and every point of interest again (a new
        connection, or before they go stale)."""
        now = datetime.now(UTC)
        for call in list(self._calls.values()):
            self._send_call(call, now)
        for drone_id, interest in list(self._interests.items()):
            self._send_interest(drone_id, interest, now)

    # -- inside -----------------------------------------------------------------------

    async def _follow(self, events: asyncio.Queue[Event]) -> None:
        while True:
            event = await events.get()
            try:
                self.take(event)
            except Exception:  # noqa: BLE001 - one odd event must not stop the picture
                log.exception("TAK out: could not send a %s event", event.kind)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.settings.call_stale_s / 3.0)
            self.announce()

    def _uid(self, kind: str, key: object) -> str:
        return f"{self._prefix}.{kind}.{key}"

    def _track(self, drone: dict[str, Any], lat: float, lon: float) -> cot.DroneTrack:
        drone_id = drone["id"]
        speed = drone.get("ground_speed_m_s")
        course = drone.get("course_deg")
        if course is None or speed is None or speed < COURSE_MIN_SPEED_M_S:
            course = drone.get("heading_deg")
        altitude = drone.get("altitude_amsl_m")
        video_url = self.settings.video_rtsp.get(drone_id)
        video = (
            cot.VideoFeed(self._uid("video", drone_id), f"{drone_id} video", video_url)
            if video_url is not None
            else None
        )
        return cot.DroneTrack(
            uid=self._uid("drone", drone_id),
            callsign=drone_id,
            point=cot.CotPoint(lat, lon, self._hae(altitude)),
            course_deg=course,
            speed_m_s=speed,
            remarks=self._drone_remarks(drone),
            video=video,
        )

    def _hae(self, altitude_amsl_m: float | None) -> float:
        """Height above the WGS84 ellipsoid, from the vehicle's height above mean sea level."""
        if altitude_amsl_m is None:
            return cot.UNKNOWN
        return altitude_amsl_m + self.settings.geoid_height_m

    def _drone_remarks(self, drone: dict[str, Any]) -> str:
        if drone.get("sortie_state"):
            doing = f"sortie {drone.get('sortie_id')} {drone['sortie_state']}"
            if drone.get("call_id") is not None:
                doing += f" for call {drone['call_id']}"
        else:
            doing = "docked" if drone.get("docked") else str(drone.get("dock_state", ""))
        battery = drone.get("battery_pct")
        charge = f", battery {battery:.0f}%" if battery is not None else ""
        return (
            f"{self._source}: drone {drone['id']} of station {drone['station_id']}: {doing}{charge}"
        )

    def _call_marker(self, call: dict[str, Any]) -> cot.CallMarker:
        what = call.get("call_type") or call.get("source") or "call"
        uncertainty = call.get("location_uncertainty_m")
        remarks = f"{self._source}: call {call['id']} P{call['priority']} {what}, {call['status']}"
        if call.get("summary"):
            remarks += f": {call['summary']}"
        return cot.CallMarker(
            uid=self._uid("call", call["id"]),
            callsign=f"Call {call['id']} P{call['priority']} {what}",
            point=cot.CotPoint(
                call["latitude_deg"],
                call["longitude_deg"],
                ce_m=uncertainty if uncertainty is not None else cot.UNKNOWN,
            ),
            priority=int(call["priority"]),
            remarks=remarks,
        )

    def _send_call(self, call: dict[str, Any], now: datetime) -> None:
        marker = cot.call_marker(self._call_marker(call), now, self.settings.call_stale_s)
        self.link.outbox.put(marker)

    def _point_of_interest(self, drone_id: str, interest: _Interest) -> cot.PointOfInterest:
        call = f" on call {interest.call_id}" if interest.call_id is not None else ""
        return cot.PointOfInterest(
            uid=self._uid("poi", drone_id),
            callsign=f"{drone_id} camera",
            point=cot.CotPoint(interest.latitude_deg, interest.longitude_deg),
            drone_uid=self._uid("drone", drone_id),
            remarks=f"{self._source}: where drone {drone_id}'s camera looks{call}",
        )

    def _send_interest(self, drone_id: str, interest: _Interest, now: datetime) -> None:
        poi = self._point_of_interest(drone_id, interest)
        self.link.outbox.put(cot.point_of_interest(poi, now, self.settings.call_stale_s))
