"""A station, its docked drone and the drone's flight profile (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from missions.geo import GeoPoint


@dataclass(frozen=True, slots=True)
class DroneProfile:
    """The figures a drone flies by; the flight executor sets PX4's parameters from them.

    `mavlink` is the drone's MAVLink address as MAVSDK spells it
    (``udp://:14540`` or ``udpin://127.0.0.1:14540``).
    """

    id: str
    mavlink: str
    max_speed_m_s: float = 20.0
    cruise_speed_m_s: float = 18.0
    climb_m_s: float = 5.0
    descent_m_s: float = 3.0
    acceleration_m_s2: float = 5.0
    endurance_s: float = 2400.0
    video_url: str | None = None


@dataclass(frozen=True, slots=True)
class Station:
    """A dock with one drone; `ground_alt_amsl_m` is the dock's ground altitude."""

    id: str
    name: str
    position: GeoPoint
    ground_alt_amsl_m: float
    drone: DroneProfile
