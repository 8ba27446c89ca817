"""Geographic points and the one local metric frame that swaps lat/lon.

Everything geometric in dfr works in a flat, metric frame centred on the
deployment (azimuthal equidistant), so shapely's planar operations are in
metres. `LocalFrame` is the only code that knows pyproj's axis order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from pyproj import CRS, Geod, Transformer

WGS84_GEOD = Geod(ellps="WGS84")


class CoordinateError(ValueError):
    """A latitude/longitude/altitude that cannot be a place on Earth."""


@dataclass(frozen=True, slots=True)
class GeoPoint:
    """A WGS84 position; altitude is optional and its frame is up to the user.

    >>> GeoPoint(38.2659, -104.6097).latitude_deg
    38.2659
    """

    latitude_deg: float
    longitude_deg: float

    def __post_init__(self) -> None:
        check_coordinates(self.latitude_deg, self.longitude_deg)

    def distance_m(self, other: GeoPoint) -> float:
        """Geodesic distance on WGS84, metres."""
        _, _, dist = WGS84_GEOD.inv(
            self.longitude_deg, self.latitude_deg, other.longitude_deg, other.latitude_deg
        )
        return float(dist)

    def bearing_deg(self, other: GeoPoint) -> float:
        """Initial geodesic bearing to `other`, degrees clockwise from north in [0, 360)."""
        az, _, _ = WGS84_GEOD.inv(
            self.longitude_deg, self.latitude_deg, other.longitude_deg, other.latitude_deg
        )
        return float(az) % 360.0


def check_coordinates(latitude_deg: float, longitude_deg: float) -> None:
    """Raise CoordinateError unless the pair is a finite WGS84 position.

    >>> check_coordinates(200, 0)
    Traceback (most recent call last):
    ...
    missions.geo.CoordinateError: latitude 200 is outside [-90, 90]
    """
    for name, value, limit in (("latitude", latitude_deg, 90), ("longitude", longitude_deg, 180)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise CoordinateError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise CoordinateError(f"{name} must be finite, got {value}")
        if not -limit <= value <= limit:
            raise CoordinateError(f"{name} {value:g} is outside [-{limit}, {limit}]")


@dataclass(frozen=True)
class LocalFrame:
    """Azimuthal equidistant frame centred on `origin`: x east, y north, metres."""

    origin: GeoPoint

    @cached_property
    def _forward(self) -> Transformer:
        return Transformer.from_crs(CRS.from_epsg(4326), self._crs, always_xy=True)

    @cached_property
    def _inverse(self) -> Transformer:
        return Transformer.from_crs(self._crs, CRS.from_epsg(4326), always_xy=True)

    @cached_property
    def _crs(self) -> CRS:
        return CRS.from_proj4(
            f"+proj=aeqd +lat_0={self.origin.latitude_deg} +lon_0={self.origin.longitude_deg}"
            " +datum=WGS84 +units=m +no_defs"
        )

    def to_xy(self, point: GeoPoint) -> tuple[float, float]:
        """Project a point to (x_m, y_m)."""
        x, y = self._forward.transform(point.longitude_deg, point.latitude_deg)
        return float(x), float(y)

    def lonlat_to_xy(self, longitude_deg: float, latitude_deg: float) -> tuple[float, float]:
        """Project GeoJSON-ordered coordinates to (x_m, y_m)."""
        x, y = self._forward.transform(longitude_deg, latitude_deg)
        return float(x), float(y)

    def lonlat_array_to_xy(self, lonlat: np.ndarray) -> np.ndarray:
        """Project an (n, 2) array of (lon, lat) to an (n, 2) array of (x_m, y_m)."""
        x, y = self._forward.transform(lonlat[:, 0], lonlat[:, 1])
        return np.column_stack([x, y])

    def xy_array_to_lonlat(self, xy: np.ndarray) -> np.ndarray:
        """Unproject an (n, 2) array of (x_m, y_m) to (lon, lat)."""
        lon, lat = self._inverse.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    def to_geo(self, x_m: float, y_m: float) -> GeoPoint:
        """Unproject (x_m, y_m) to a GeoPoint."""
        lon, lat = self._inverse.transform(x_m, y_m)
        return GeoPoint(float(lat), float(lon))

    def to_lonlat(self, x_m: float, y_m: float) -> tuple[float, float]:
        """Unproject to GeoJSON order (lon, lat)."""
        lon, lat = self._inverse.transform(x_m, y_m)
        return float(lon), float(lat)
