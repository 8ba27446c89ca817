"""What the synthetic camera needs to know about a simulated drone.

A simulated drone exposes a `CameraSubject`; the camera asks it for a
`CameraState` once per frame. `OrbitingSubject` is a self-contained subject
(a drone orbiting a scene) for demos, tests and the benchmark.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

_EARTH_RADIUS_M = 6_371_008.8


class GeoPointLike(Protocol):
    """Anything with a WGS84 latitude and longitude in degrees (e.g. a GeoPoint)."""

    @property
    def latitude_deg(self) -> float: ...

    @property
    def longitude_deg(self) -> float: ...


@dataclass(frozen=True)
class ScenePoint:
    """A WGS84 position of a call's scene."""

    latitude_deg: float
    longitude_deg: float


@dataclass(frozen=True)
class CameraState:
    """A drone's state as drawn by the synthetic camera.

    `heading_deg` is clockwise from true north; `relative_altitude_m` is above
    the take-off point; `call_id` and `scene` are None when no call is served.
    """

    drone_id: str
    latitude_deg: float
    longitude_deg: float
    relative_altitude_m: float
    heading_deg: float
    ground_speed_m_s: float
    battery_pct: float
    call_id: str | None = None
    scene: GeoPointLike | None = None


class CameraSubject(Protocol):
    """A simulated drone the synthetic camera can look through."""

    def camera_state(self) -> CameraState:
        """The drone's state now; called on the event loop once per frame, must not block."""
        ...


def offset_m(origin: GeoPointLike, point: GeoPointLike) -> tuple[float, float]:
    """(east_m, north_m) of `point` from `origin`, equirectangular approximation.

    Good to centimetres over the few hundred metres a camera sees.

    >>> east, north = offset_m(ScenePoint(38.0, -104.0), ScenePoint(38.001, -104.0))
    >>> round(east, 3), round(north, 1)
    (0.0, 111.2)
    """
    lat0 = math.radians(origin.latitude_deg)
    east_m = math.radians(point.longitude_deg - origin.longitude_deg) * math.cos(lat0)
    north_m = math.radians(point.latitude_deg - origin.latitude_deg)
    return east_m * _EARTH_RADIUS_M, north_m * _EARTH_RADIUS_M


def displaced(origin: GeoPointLike, east_m: float, north_m: float) -> ScenePoint:
    """The point `east_m`, `north_m` from `origin` (inverse of `offset_m`)."""
    lat0 = math.radians(origin.latitude_deg)
    return ScenePoint(
        latitude_deg=origin.latitude_deg + math.degrees(north_m / _EARTH_RADIUS_M),
        longitude_deg=origin.longitude_deg
        + math.degrees(east_m / (_EARTH_RADIUS_M * math.cos(lat0))),
    )


class OrbitingSubject:
    """A simulated drone flying a circle around a scene, camera looking ahead.

    The orbit is a pure function of the clock, so two subjects built alike
    agree on where the drone is.
    """

    def __init__(
        self,
        drone_id: str,
        centre: GeoPointLike,
        *,
        radius_m: float = 30.0,
        ground_speed_m_s: float = 6.0,
        relative_altitude_m: float = 60.0,
        battery_pct: float = 87.0,
        call_id: str | None = None,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self._drone_id = drone_id
        self._centre = ScenePoint(centre.latitude_deg, centre.longitude_deg)
        self._radius_m = radius_m
        self._speed_m_s = ground_speed_m_s
        self._altitude_m = relative_altitude_m
        self._battery_pct = battery_pct
        self._call_id = call_id
        self._clock_s = clock_s
        self._start_s = clock_s()

    def camera_state(self) -> CameraState:
        elapsed_s = self._clock_s() - self._start_s
        angle_rad = elapsed_s * self._speed_m_s / self._radius_m
        east_m = self._radius_m * math.sin(angle_rad)
        north_m = self._radius_m * math.cos(angle_rad)
        position = displaced(self._centre, east_m, north_m)
        # Flying clockwise seen from above: the velocity is 90 degrees right of the bearing
        # from the centre.
        heading_deg = (math.degrees(angle_rad) + 90.0) % 360.0
        return CameraState(
            drone_id=self._drone_id,
            latitude_deg=position.latitude_deg,
            longitude_deg=position.longitude_deg,
            relative_altitude_m=self._altitude_m,
            heading_deg=heading_deg,
            ground_speed_m_s=self._speed_m_s,
            battery_pct=max(0.0, self._battery_pct - elapsed_s / 60.0),
            call_id=self._call_id,
            scene=self._centre if self._call_id is not None else None,
        )
