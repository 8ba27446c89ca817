"""A read-only snapshot of a simulated vehicle, for tests and scenario code."""

from __future__ import annotations

from dataclasses import dataclass

from missions.geo import GeoPoint
from sitl.modes import FlightMode, LandedState


@dataclass(frozen=True, slots=True)
class VehicleState:
    """The vehicle at one physics step. Times are vehicle time.

    `relative_altitude_m` is above home; velocities are north/east/down like MAVSDK's.
    """

    time_boot_ms: int
    position: GeoPoint
    relative_altitude_m: float
    alt_amsl_m: float
    north_m: float
    east_m: float
    velocity_north_m_s: float
    velocity_east_m_s: float
    velocity_down_m_s: float
    ground_speed_m_s: float
    heading_deg: float
    armed: bool
    flight_mode: FlightMode
    landed_state: LandedState
    battery_pct: float
    battery_voltage_v: float
    gps_fix: bool
    position_valid: bool
    home: GeoPoint
    home_alt_amsl_m: float
    mission_seq: int
    mission_count: int
    gcs_connected: bool
    link_up: bool
    failsafe: str | None
    fence_breach: str | None
    terminated: bool

    @property
    def time_s(self) -> float:
        return self.time_boot_ms / 1000.0

    @property
    def landed(self) -> bool:
        return self.landed_state is LandedState.ON_GROUND

    @property
    def in_air(self) -> bool:
        return not self.landed

    def distance_to_m(self, point: GeoPoint) -> float:
        """Horizontal geodesic distance to `point`."""
        return self.position.distance_m(point)
