"""What the route planner hands to the flight executor: waypoints, fence, point of interest."""

from __future__ import annotations

from dataclasses import dataclass, field

from missions.geo import GeoPoint


@dataclass(frozen=True, slots=True)
class Waypoint:
    """A mission position; altitude is metres above the home (station) position."""

    latitude_deg: float
    longitude_deg: float
    relative_altitude_m: float

    @property
    def point(self) -> GeoPoint:
        return GeoPoint(self.latitude_deg, self.longitude_deg)


@dataclass(frozen=True, slots=True)
class FencePolygon:
    """A fence polygon as (lat, lon) vertices, not closed (first != last)."""

    vertices: tuple[tuple[float, float], ...]
    inclusion: bool


@dataclass(frozen=True, slots=True)
class FenceCircle:
    center: GeoPoint
    radius_m: float
    inclusion: bool


@dataclass(frozen=True, slots=True)
class Fence:
    """Geofence to upload to the vehicle: one inclusion polygon and the exclusions.

    Exclusions are the *unbuffered* no-fly shapes: the route keeps a buffer
    beyond them, the fence is the vehicle's backstop.
    """

    polygons: tuple[FencePolygon, ...] = ()
    circles: tuple[FenceCircle, ...] = ()

    def covers(self, other: Fence) -> bool:
        """True when this fence holds every shape of `other` (and the same inclusions):
        a vehicle holding this one is fenced at least as tightly as `other` asks.

        >>> keep_in = FencePolygon(((0.0, 0.0), (0.0, 1.0), (1.0, 0.0)), inclusion=True)
        >>> zone = FenceCircle(GeoPoint(0.5, 0.5), 50.0, inclusion=False)
        >>> Fence((keep_in,), (zone,)).covers(Fence((keep_in,)))
        True
        >>> Fence((keep_in,)).covers(Fence((keep_in,), (zone,)))
        False
        """
        mine = set(self.polygons) | set(self.circles)
        theirs = set(other.polygons) | set(other.circles)
        same_inclusions = {s for s in mine if s.inclusion} == {s for s in theirs if s.inclusion}
        return same_inclusions and theirs <= mine


@dataclass(frozen=True, slots=True)
class Route:
    """A planned flight from a station to a scene.

    `waypoints[0]` is the station (home), `waypoints[-1]` the target: the scene,
    or the stand-off point when the scene lies inside a no-fly zone, in which
    case `point_of_interest` is the scene itself for the camera.
    """

    waypoints: tuple[Waypoint, ...]
    length_m: float
    fence: Fence
    point_of_interest: GeoPoint
    standoff: bool = False
    cruise_altitude_m: float = 60.0
    turn_angles_deg: tuple[float, ...] = field(default=())
    legs_m: tuple[float, ...] = field(default=())
    #: Why `cruise_altitude_m` is below the deployment's cruise altitude (a ceiling
    #: zone the route passes under), for the pilot; None when it is not.
    altitude_limit: str | None = None

    @property
    def target(self) -> Waypoint:
        return self.waypoints[-1]

    def as_geojson(self) -> dict:
        """GeoJSON LineString, coordinates [lon, lat, relative_alt_m]."""
        return {
            "type": "LineString",
            "coordinates": [
                [w.longitude_deg, w.latitude_deg, w.relative_altitude_m] for w in self.waypoints
            ],
        }
