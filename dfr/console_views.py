"""What the consoles see: drones, sorties and calls as JSON events, and what of
them an officer's share link (one call) may see."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from dfr.active_sorties import ActiveSortie
from dfr.events import Event
from dfr.store import CallRecord
from missions.drone_state import VelocityNed
from missions.profile import Station
from stations.fleet import FleetDrone


def call_event(call: CallRecord) -> Event:
    """A call was created or changed."""
    return Event("call", {"call": asdict(call), "call_id": call.id})


def sortie_event(active: ActiveSortie, state: str) -> Event:
    """A sortie entered `state`."""
    record, call, station = active.record, active.call, active.station
    return Event(
        "sortie",
        {
            "call_id": call.id,
            "sortie": {
                "id": record.id,
                "call_id": call.id,
                "station_id": station.id,
                "drone_id": station.drone.id,
                "state": state,
                "eta_s": round(active.eta_s, 1),
                "created_by": record.created_by,
                "created_at": record.created_at,
                "launched_by": active.launched_by,
                "launched_at": active.launched_at,
                "route": active.route.as_geojson(),
                "altitude_m": active.route.cruise_altitude_m,
                "altitude_limit": active.route.altitude_limit,
                "scene": [call.longitude_deg, call.latitude_deg],
                # Where the camera looks (the mission's ROI): the scene, also when the
                # drone holds at a stand-off point.
                "point_of_interest": [
                    active.route.point_of_interest.longitude_deg,
                    active.route.point_of_interest.latitude_deg,
                ],
                "purpose": call.purpose,
                "policy": active.policy,
                "confirm_expires_at": active.confirm_expires_at,
                # Overwatch: the sortie on scene this one relieves.
                "relieves": active.record.relieves,
                # The drone's agency, and the mutual-aid rule it flies into another's by.
                "agency": active.agency,
                "mutual_aid": active.mutual_aid,
            },
        },
    )


def drone_json(
    station: Station, drone: FleetDrone, active: ActiveSortie | None, dock_prepared: bool = False
) -> dict[str, Any]:
    """A station's drone as the consoles show it: link, dock, health, position, sortie;
    `dock_prepared`: its dock set-up (parameters, fence) is verified, so launch policies
    may take it."""
    a = drone.availability()
    s = drone.state
    pos = s.position
    return {
        "id": station.drone.id,
        "station_id": station.id,
        "online": a.online,
        "link": "up" if a.online else "down",
        "dock_state": str(a.dock_state),
        "docked": a.docked,
        "dock_prepared": dock_prepared,
        "healthy": a.healthy,
        "armed": bool(s.armed),
        "in_air": s.in_air,
        "flight_mode": str(s.flight_mode),
        "battery_pct": a.battery_pct,
        "gps_fix_type": s.gps_fix_type,
        "satellites": s.gps_satellites,
        "latitude_deg": pos.latitude_deg if pos else None,
        "longitude_deg": pos.longitude_deg if pos else None,
        "relative_altitude_m": pos.relative_altitude_m if pos else None,
        "altitude_amsl_m": pos.absolute_altitude_m if pos else None,
        "heading_deg": s.heading_deg,
        "ground_speed_m_s": s.ground_speed_m_s,
        "course_deg": course_deg(s.velocity),
        "vehicle_time_s": s.vehicle_time_s,
        "status_text": s.status_texts[-1].text if s.status_texts else None,
        "sortie_id": active.record.id if active else None,
        "sortie_state": active.state if active else None,
        "call_id": active.call.id if active else None,
        "reason": a.reason,
    }


def course_deg(velocity: VelocityNed | None) -> float | None:
    """The direction of travel over the ground, degrees true (None when not moving).

    >>> course_deg(VelocityNed(north_m_s=0.0, east_m_s=-5.0, down_m_s=0.0))
    270.0
    """
    if velocity is None or velocity.ground_speed_m_s < 0.1:
        return None
    return math.degrees(math.atan2(velocity.east_m_s, velocity.north_m_s)) % 360.0


def streams_of_call(
    streams: list[dict[str, Any]], call_id: int, station_id: str | None
) -> list[dict[str, Any]]:
    """The video stream a share link for `call_id` may see: that of the drone serving
    the call now (`station_id`; under overwatch, the relief once it is on scene)."""
    return [s for s in streams if s["call_id"] == call_id and s["station_id"] == station_id]


def share_link_view(event: Event, call_id: int, station_id: str | None) -> Event | None:
    """What of `event` a share link for `call_id` may see: that call's events, and the
    telemetry of the drone serving it (`station_id`, None while no drone does)."""
    if event.kind == "telemetry":
        if station_id is None:
            return None
        mine = [d for d in event.data["drones"] if d["station_id"] == station_id]
        return Event("telemetry", {**event.data, "drones": mine})
    if event.kind == "streams":
        streams = streams_of_call(event.data["streams"], call_id, station_id)
        return Event("streams", {"streams": streams})
    return event if event.data.get("call_id") == call_id else None
