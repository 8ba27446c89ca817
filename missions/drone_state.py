"""What dfr knows about a drone at one instant: a frozen snapshot of its telemetry.

Pure data. The drone link builds a new `DroneState` whenever a telemetry stream
delivers; every consumer (fleet, flight executor, API) reads the same snapshot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from missions.geo import GeoPoint


class FlightMode(StrEnum):
    """PX4 flight modes as MAVSDK names them."""

    UNKNOWN = "UNKNOWN"
    READY = "READY"
    TAKEOFF = "TAKEOFF"
    HOLD = "HOLD"
    MISSION = "MISSION"
    RETURN_TO_LAUNCH = "RETURN_TO_LAUNCH"
    LAND = "LAND"
    OFFBOARD = "OFFBOARD"
    FOLLOW_ME = "FOLLOW_ME"
    MANUAL = "MANUAL"
    ALTCTL = "ALTCTL"
    POSCTL = "POSCTL"
    ACRO = "ACRO"
    STABILIZED = "STABILIZED"
    RATTITUDE = "RATTITUDE"


class LandedState(StrEnum):
    UNKNOWN = "UNKNOWN"
    ON_GROUND = "ON_GROUND"
    IN_AIR = "IN_AIR"
    TAKING_OFF = "TAKING_OFF"
    LANDING = "LANDING"


class Severity(StrEnum):
    """MAV_SEVERITY names, most severe last."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    NOTICE = "NOTICE"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"
    ALERT = "ALERT"
    EMERGENCY = "EMERGENCY"


@dataclass(frozen=True, slots=True)
class Position:
    latitude_deg: float
    longitude_deg: float
    absolute_altitude_m: float
    relative_altitude_m: float

    @property
    def point(self) -> GeoPoint:
        return GeoPoint(self.latitude_deg, self.longitude_deg)


@dataclass(frozen=True, slots=True)
class VelocityNed:
    north_m_s: float
    east_m_s: float
    down_m_s: float

    @property
    def ground_speed_m_s(self) -> float:
        return math.hypot(self.north_m_s, self.east_m_s)


@dataclass(frozen=True, slots=True)
class Health:
    gyrometer_calibration_ok: bool = False
    accelerometer_calibration_ok: bool = False
    magnetometer_calibration_ok: bool = False
    local_position_ok: bool = False
    global_position_ok: bool = False
    home_position_ok: bool = False
    armable: bool = False

    @property
    def all_ok(self) -> bool:
        """MAVSDK's `health_all_ok`: every check passes, including armable."""
        return all(
            (
                self.gyrometer_calibration_ok,
                self.accelerometer_calibration_ok,
                self.magnetometer_calibration_ok,
                self.local_position_ok,
                self.global_position_ok,
                self.home_position_ok,
                self.armable,
            )
        )


@dataclass(frozen=True, slots=True)
class StatusText:
    """A STATUSTEXT from the vehicle; `seq` counts texts since the link opened."""

    seq: int
    severity: Severity
    text: str
    vehicle_time_s: float | None


@dataclass(frozen=True, slots=True)
class DroneState:
    """One snapshot of a drone's telemetry; None/UNKNOWN until the stream first delivers.

    `vehicle_time_s` is the autopilot's clock (time since boot), `received_monotonic_s`
    our own monotonic clock when the last sample of any stream arrived.
    """

    position: Position | None = None
    home: Position | None = None
    armed: bool | None = None
    flight_mode: FlightMode = FlightMode.UNKNOWN
    landed_state: LandedState = LandedState.UNKNOWN
    battery_pct: float | None = None
    battery_voltage_v: float | None = None
    health: Health = field(default_factory=Health)
    gps_satellites: int = 0
    gps_fix_type: int = 0
    velocity: VelocityNed | None = None
    heading_deg: float | None = None
    mission_current: int = -1
    mission_total: int = 0
    #: Checksums of the mission and fence the vehicle holds (MISSION_CURRENT's
    #: mission_id / fence_id, an accepted upload's MISSION_ACK opaque_id); None until
    #: reported, 0 for an empty list or a vehicle that does not compute them.
    mission_checksum: int | None = None
    fence_checksum: int | None = None
    #: How many parameter values the vehicle has announced (PARAM_VALUE): it
    #: announces every change, whoever made it; the values are `DroneLink.announced_param`.
    param_announcements: int = 0
    status_texts: tuple[StatusText, ...] = ()
    vehicle_time_s: float | None = None
    received_monotonic_s: float | None = None

    @property
    def complete(self) -> bool:
        """Every stream a decision about the flight rests on has reported: the clock,
        armed, the flight mode and the position. A fresh link starts empty, and an
        empty `armed` must not read as "disarmed, so on the ground"."""
        return (
            self.vehicle_time_s is not None
            and self.armed is not None
            and self.flight_mode is not FlightMode.UNKNOWN
            and self.position is not None
        )

    @property
    def in_air(self) -> bool:
        return self.landed_state in (
            LandedState.IN_AIR,
            LandedState.TAKING_OFF,
            LandedState.LANDING,
        )

    @property
    def relative_altitude_m(self) -> float | None:
        return None if self.position is None else self.position.relative_altitude_m

    @property
    def ground_speed_m_s(self) -> float | None:
        return None if self.velocity is None else self.velocity.ground_speed_m_s

    @property
    def distance_home_m(self) -> float | None:
        if self.position is None or self.home is None:
            return None
        return self.position.point.distance_m(self.home.point)

    def texts_after(self, seq: int) -> tuple[StatusText, ...]:
        """Status texts newer than `seq` (pass the last seq you have seen)."""
        return tuple(t for t in self.status_texts if t.seq > seq)
