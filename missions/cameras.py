"""Fixed cameras (traffic, city, building cameras): where each looks, and which see a scene.

A camera sits at a point and looks along `heading_deg` (clockwise from north), its view
`fov_deg` wide (360: a dome) and `range_m` deep. It covers a scene when the scene is
within its range and the bearing camera → scene is within heading ± fov/2; distance
and bearing are geodesic (WGS84), as `GeoPoint` measures them.

`CameraRegistry` answers "which cameras see this point, nearest first" for thousands
of cameras: each camera's range, as a square in the deployment's local metric frame,
goes into shapely's STRtree once; a query takes the few squares holding the point and
measures those cameras exactly, all at once with pyproj's vectorised geodesic.

>>> from missions.geo import GeoPoint
>>> in_view(heading_deg=350, fov_deg=40, bearing_deg=5)
True
>>> in_view(heading_deg=90, fov_deg=60, bearing_deg=180)
False
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import shapely

from missions.geo import WGS84_GEOD, GeoPoint, LocalFrame

#: How deep a camera can see at most, metres: anything more is a typo.
MAX_RANGE_M = 10_000.0
#: Room around each camera's square for the frame's own distortion (far from its
#: centre, planar distances drift from geodesic ones by a fraction of a percent).
_MARGIN_FRACTION = 0.02
_MARGIN_M = 1.0


class CameraError(ValueError):
    """A camera that cannot be: a view wider than a circle, a range of nothing..."""


@dataclass(frozen=True, slots=True)
class FixedCamera:
    """One registered camera. `source` is the URL its video is read from; it may carry
    credentials, so it is shown only redacted (dfr.camera_file.redact_url)."""

    id: str
    name: str
    position: GeoPoint
    heading_deg: float
    fov_deg: float
    range_m: float
    source: str
    agency: str | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.heading_deg):
            raise CameraError(f"camera {self.id!r}: heading must be finite")
        if not (math.isfinite(self.fov_deg) and 0 < self.fov_deg <= 360):
            raise CameraError(f"camera {self.id!r}: field of view must be in (0, 360] degrees")
        if not (math.isfinite(self.range_m) and 0 < self.range_m <= MAX_RANGE_M):
            raise CameraError(f"camera {self.id!r}: range must be in (0, {MAX_RANGE_M:g}] m")

    def sees(self, scene: GeoPoint) -> bool:
        """Whether `scene` is in this camera's view (range and wedge)."""
        return self.position.distance_m(scene) <= self.range_m and in_view(
            self.heading_deg, self.fov_deg, self.position.bearing_deg(scene)
        )


@dataclass(frozen=True, slots=True)
class CameraSighting:
    """A camera that sees a scene: how far the scene is and in which direction."""

    camera: FixedCamera
    distance_m: float
    bearing_deg: float  # camera → scene, clockwise from north


def in_view(heading_deg: float, fov_deg: float, bearing_deg: float) -> bool:
    """Whether `bearing_deg` is within `heading_deg` ± `fov_deg`/2 (a 360° view: always).

    >>> in_view(0, 90, 45), in_view(0, 90, 46), in_view(10, 360, 190)
    (True, False, True)
    """
    if fov_deg >= 360:
        return True
    off_deg = (bearing_deg - heading_deg + 180.0) % 360.0 - 180.0
    return abs(off_deg) <= fov_deg / 2


class CameraRegistry:
    """The cameras of a deployment, indexed once; queries are read-only.

    `frame` is the deployment's local frame (default: one centred on the cameras).
    """

    def __init__(self, cameras: Iterable[FixedCamera] = (), frame: LocalFrame | None = None):
        self._cameras = tuple(cameras)
        self._by_id = {c.id: c for c in self._cameras}
        if len(self._by_id) != len(self._cameras):
            raise CameraError("camera ids must be unique")
        n = len(self._cameras)
        self._lat = np.array([c.position.latitude_deg for c in self._cameras], dtype=float)
        self._lon = np.array([c.position.longitude_deg for c in self._cameras], dtype=float)
        self._heading = np.array([c.heading_deg for c in self._cameras], dtype=float)
        self._half_fov = np.array([c.fov_deg / 2 for c in self._cameras], dtype=float)
        self._range = np.array([c.range_m for c in self._cameras], dtype=float)
        if frame is None:
            centre = GeoPoint(float(self._lat.mean()), float(self._lon.mean())) if n else None
            frame = LocalFrame(centre or GeoPoint(0.0, 0.0))
        self._frame = frame
        if n:
            xy = frame.lonlat_array_to_xy(np.column_stack([self._lon, self._lat]))
            reach = self._range * (1 + _MARGIN_FRACTION) + _MARGIN_M
            squares = shapely.box(
                xy[:, 0] - reach, xy[:, 1] - reach, xy[:, 0] + reach, xy[:, 1] + reach
            )
            self._tree: shapely.STRtree | None = shapely.STRtree(squares)
        else:
            self._tree = None

    def __len__(self) -> int:
        return len(self._cameras)

    def __iter__(self) -> Iterator[FixedCamera]:
        return iter(self._cameras)

    def get(self, camera_id: str) -> FixedCamera | None:
        return self._by_id.get(camera_id)

    def covering(self, scene: GeoPoint, limit: int = 4) -> list[CameraSighting]:
        """The `limit` nearest cameras that see `scene`, nearest first (ties by id)."""
        if self._tree is None or limit <= 0:
            return []
        # The squares holding the scene: the only cameras that may reach it.
        near = self._tree.query(shapely.Point(*self._frame.to_xy(scene)))
        distance, bearing = self._measure(near, scene)
        off = np.abs((bearing - self._heading[near] + 180.0) % 360.0 - 180.0)
        half_fov = self._half_fov[near]
        seen = (distance <= self._range[near]) & ((half_fov >= 180.0) | (off <= half_fov))
        return self._nearest_first(near[seen], distance[seen], bearing[seen], limit)

    def nearest(
        self, point: GeoPoint, limit: int = 10, within_m: float = 2000.0
    ) -> list[CameraSighting]:
        """The `limit` cameras nearest `point` within `within_m`, whatever they look at
        (bearing camera → point), nearest first."""
        if self._tree is None or limit <= 0:
            return []
        x, y = self._frame.to_xy(point)
        reach = within_m * (1 + _MARGIN_FRACTION) + _MARGIN_M
        # Each square holds its camera, so a camera within `within_m` has its square in the box.
        near = self._tree.query(shapely.box(x - reach, y - reach, x + reach, y + reach))
        distance, bearing = self._measure(near, point)
        close = distance <= within_m
        return self._nearest_first(near[close], distance[close], bearing[close], limit)

    def _measure(self, indices: np.ndarray, point: GeoPoint) -> tuple[np.ndarray, np.ndarray]:
        """Geodesic distance (m) and bearing (deg) from each camera of `indices` to `point`."""
        if not len(indices):
            return np.empty(0), np.empty(0)
        forward, _, distance = WGS84_GEOD.inv(
            self._lon[indices],
            self._lat[indices],
            np.full(len(indices), point.longitude_deg),
            np.full(len(indices), point.latitude_deg),
        )
        return np.asarray(distance), np.asarray(forward) % 360.0

    def _nearest_first(
        self, indices: np.ndarray, distance: np.ndarray, bearing: np.ndarray, limit: int
    ) -> list[CameraSighting]:
        found = [
            CameraSighting(self._cameras[i], float(d), float(b))
            for i, d, b in zip(indices, distance, bearing, strict=True)
        ]
        found.sort(key=lambda s: (s.distance_m, s.camera.id))
        return found[:limit]
