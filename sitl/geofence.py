"""The uploaded geofence and PX4's breach test.

Fence items (mission_type FENCE) become polygons and circles in the local metric
frame, prepared once per upload. Like PX4: the vehicle must be inside at least one
inclusion zone when there are any, outside every exclusion zone, within
GF_MAX_HOR_DIST of home and GF_MAX_VER_DIST above it (0 disables either). PX4's
polygons carry no altitude; neither do these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import shapely
from pymavlink.dialects.v20 import common as mavlink
from shapely.geometry import Polygon

from missions.geo import LocalFrame
from sitl.errors import FenceError
from sitl.mission_items import (
    FENCE_CIRCLE_EXCLUSION,
    FENCE_CIRCLE_INCLUSION,
    FENCE_POLYGON_EXCLUSION,
    FENCE_POLYGON_INCLUSION,
    MissionItem,
)


@dataclass(frozen=True, slots=True)
class _Circle:
    x_m: float
    y_m: float
    radius_m: float

    def contains(self, x_m: float, y_m: float) -> bool:
        return math.hypot(x_m - self.x_m, y_m - self.y_m) <= self.radius_m


@dataclass(frozen=True, slots=True)
class _Polygon:
    """A prepared polygon and its bounding box: a point outside the box (most points,
    for most zones) is answered without a call into shapely."""

    shape: Polygon
    min_x: float
    min_y: float
    max_x: float
    max_y: float

    @classmethod
    def of(cls, shape: Polygon) -> _Polygon:
        shapely.prepare(shape)
        return cls(shape, *shape.bounds)

    def contains(self, x_m: float, y_m: float) -> bool:
        if not (self.min_x <= x_m <= self.max_x and self.min_y <= y_m <= self.max_y):
            return False
        return bool(shapely.contains_xy(self.shape, x_m, y_m))


class Geofence:
    """Inclusion and exclusion zones in local metres, plus PX4's distance limits."""

    def __init__(self, frame: LocalFrame) -> None:
        self._frame = frame
        self._inclusions: list[_Polygon | _Circle] = []
        self._exclusions: list[_Polygon | _Circle] = []

    @property
    def zone_count(self) -> int:
        return len(self._inclusions) + len(self._exclusions)

    def parse(self, items: tuple[MissionItem, ...]) -> tuple[list, list]:
        """Zones from fence items; raises FenceError (PX4 rejects such an upload)."""
        inclusions: list[_Polygon | _Circle] = []
        exclusions: list[_Polygon | _Circle] = []
        i = 0
        while i < len(items):
            item = items[i]
            if item.command in (FENCE_CIRCLE_INCLUSION, FENCE_CIRCLE_EXCLUSION):
                if not item.param1 > 0:
                    raise FenceError(f"fence item {i}: circle radius must be positive")
                x, y = self._xy(item)
                zone = _Circle(x, y, item.param1)
                (inclusions if item.command == FENCE_CIRCLE_INCLUSION else exclusions).append(zone)
                i += 1
            elif item.command in (FENCE_POLYGON_INCLUSION, FENCE_POLYGON_EXCLUSION):
                count = int(round(item.param1))
                group = items[i : i + count]
                if count < 3 or len(group) < count:
                    raise FenceError(f"fence item {i}: polygon needs >= 3 vertices, got {count}")
                if any(v.command != item.command or round(v.param1) != count for v in group):
                    raise FenceError(f"fence item {i}: polygon vertices disagree on the count")
                polygon = Polygon([self._xy(v) for v in group])
                if not polygon.is_valid or polygon.area <= 0:
                    raise FenceError(f"fence item {i}: polygon is not simple")
                (inclusions if item.command == FENCE_POLYGON_INCLUSION else exclusions).append(
                    _Polygon.of(polygon)
                )
                i += count
            else:
                i += 1  # return point: no zone
        return inclusions, exclusions

    def validate(self, items: tuple[MissionItem, ...]) -> int:
        """MAV_MISSION_RESULT for an uploaded fence."""
        try:
            self.parse(items)
        except FenceError:
            return mavlink.MAV_MISSION_ERROR
        return mavlink.MAV_MISSION_ACCEPTED

    def load(self, items: tuple[MissionItem, ...]) -> None:
        self._inclusions, self._exclusions = self.parse(items)

    def _xy(self, item: MissionItem) -> tuple[float, float]:
        return self._frame.lonlat_to_xy(item.longitude_deg, item.latitude_deg)

    def violation(
        self,
        x_m: float,
        y_m: float,
        rel_alt_m: float,
        home_xy: tuple[float, float],
        max_hor_dist_m: float,
        max_ver_dist_m: float,
    ) -> str | None:
        """What the position violates, or None when it is inside the fence."""
        if self._exclusions and any(z.contains(x_m, y_m) for z in self._exclusions):
            return "exclusion zone"
        if self._inclusions and not any(z.contains(x_m, y_m) for z in self._inclusions):
            return "outside inclusion zone"
        if max_hor_dist_m > 0 and math.hypot(x_m - home_xy[0], y_m - home_xy[1]) > max_hor_dist_m:
            return "max distance from home"
        if max_ver_dist_m > 0 and rel_alt_m > max_ver_dist_m:
            return "max altitude"
        return None
