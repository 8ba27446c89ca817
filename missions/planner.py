"""Geofenced route planning: the shortest permitted path from a station to a scene.

The permitted region is the operational area minus every no-fly zone grown by
its buffer, and minus every ceiling zone whose ceiling leaves less than the
minimum safe altitude. A straight line is used when it is permitted; otherwise
a visibility-graph A* over the convex corners of the keep-out shapes (and the
inward corners of the operational area), each nudged `node_offset_m` into free
space. Edges are checked lazily and in batches against an STRtree, and the
search only looks at corners inside an ellipse around start and goal whose
size doubles until the path found fits inside it, which makes the result the
optimum over those corners while deployments with thousands of zones stay fast.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.polygon import orient
from shapely.ops import nearest_points

from missions.airspace import Airspace, Zone
from missions.geo import WGS84_GEOD, GeoPoint
from missions.route import Fence, FenceCircle, FencePolygon, Route, Waypoint

MAX_CACHED_CORNERS = 8000  # an 8000² byte matrix is 64 MB, and only touched where used


@dataclass(frozen=True, slots=True)
class PlannerSettings:
    """Figures the planner works by; altitudes are metres above the station."""

    cruise_altitude_m: float = 60.0
    min_safe_altitude_m: float = 30.0
    ceiling_clearance_m: float = 5.0
    max_standoff_m: float = 1000.0
    standoff_slack_m: float = 30.0
    node_offset_m: float = 1.0
    fence_radius_m: float = 3000.0
    max_fence_zones: int = 60


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """A route, or the reason there is none."""

    route: Route | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.route is not None


class RoutePlanner:
    """Plans routes over one airspace; build once per deployment, then call `plan`."""

    def __init__(self, airspace: Airspace, settings: PlannerSettings | None = None) -> None:
        self.airspace = airspace
        self.settings = settings or PlannerSettings()
        s = self.settings
        self._area = airspace.operational_area
        shapely.prepare(self._area)

        low_ceiling = [
            z
            for z in airspace.ceilings
            if z.flown_under_m(s.ceiling_clearance_m) < s.min_safe_altitude_m
        ]
        self._keep_out_zones: tuple[Zone, ...] = (*airspace.no_fly, *low_ceiling)
        keep_out = [z.keep_out_local() for z in self._keep_out_zones]
        self._keep_out = np.array(keep_out, dtype=object)
        self._keep_out_tree = STRtree(self._keep_out)
        # One prepared union answers "does this segment touch any keep-out?" in a few
        # microseconds, several times faster than querying the tree per segment.
        self._keep_out_union = shapely.union_all(self._keep_out)
        shapely.prepare(self._keep_out_union)
        self._fence_inclusions = tuple(
            FencePolygon(_ring_latlon(p.exterior.coords), inclusion=True)
            for p in _polygons(airspace.operational_area_geo)
        )
        self._fence_zones = tuple(_fence_shapes(z) for z in self._keep_out_zones)

        self._under = tuple(z for z in airspace.ceilings if z not in low_ceiling)
        self._under_tree = STRtree([z.shape_local for z in self._under])
        self._fence_tree = STRtree([z.shape_local for z in self._keep_out_zones])

        nodes = self._corner_nodes(keep_out)
        self._nodes = nodes
        self._node_tree = STRtree(shapely.points(nodes)) if len(nodes) else None
        # Corner-to-corner visibility never changes: 0 unknown, 1 visible, 2 blocked.
        small = len(nodes) <= MAX_CACHED_CORNERS
        self._visibility = np.zeros((len(nodes), len(nodes)), np.int8) if small else None

    # -- public -----------------------------------------------------------------

    def plan(self, start: GeoPoint, scene: GeoPoint, with_fence: bool = True) -> RoutePlan:
        """Plan from `start` (the station) to `scene`; never raises for geometry.

        `with_fence=False` skips the vehicle fence (for ranking); add it later
        with `fenced` for the route that flies.
        """
        frame = self.airspace.frame
        s_xy = np.array(frame.to_xy(start))
        scene_xy = np.array(frame.to_xy(scene))
        if not self._permitted_point(s_xy):
            return RoutePlan(None, "station is outside the permitted airspace")

        goal_xy, standoff, reason = self._goal(scene_xy, scene, s_xy)
        if goal_xy is None:
            return RoutePlan(None, reason)

        path = self._shortest_path(s_xy, goal_xy)
        if path is None:
            return RoutePlan(None, "no permitted route: the scene is cut off by no-fly zones")
        route = self._route(path, scene, standoff)
        return RoutePlan(self.fenced(route) if with_fence else route)

    def fenced(self, route: Route, home: GeoPoint | None = None) -> Route:
        """The route with its vehicle fence: the area and the keep-out zones near it, and
        near the straight way back to `home` when given (a route that starts in the air)."""
        frame = self.airspace.frame
        xy = [frame.to_xy(w.point) for w in route.waypoints]
        if home is not None:
            xy.append(frame.to_xy(home))
        near = LineString(xy) if len(xy) > 1 else Point(xy[0])
        return replace(route, fence=self._fence(near))

    def dock_fence(self, station: GeoPoint, reach_m: float) -> Fence:
        """The fence a docked drone holds ahead of any call: the area and the keep-out
        zones within `reach_m` (how far the drone can fly out) plus `fence_radius_m`
        of its station, the nearest `max_fence_zones`. A route whose own fence
        (`fenced`) it `covers` flies without a fence upload at dispatch."""
        frame = self.airspace.frame
        return self._fence(Point(frame.to_xy(station)), self.settings.fence_radius_m + reach_m)

    def restored(self, geojson: dict, scene: GeoPoint) -> Route:
        """A route as a sortie stored it (`Route.as_geojson()`), fenced again: what a
        server that restarted mid-flight follows the drone by. `scene` is the call's
        position (the camera's point of interest). Raises ValueError for a stored
        route without a station and a target."""
        coordinates = geojson.get("coordinates") or []
        if len(coordinates) < 2:
            raise ValueError("a stored route needs the station and a target")
        waypoints = tuple(
            Waypoint(float(lat), float(lon), float(alt)) for lon, lat, alt in coordinates
        )
        lonlat = np.array([[w.longitude_deg, w.latitude_deg] for w in waypoints])
        _, _, legs = WGS84_GEOD.inv(lonlat[:-1, 0], lonlat[:-1, 1], lonlat[1:, 0], lonlat[1:, 1])
        legs_m = tuple(float(x) for x in np.atleast_1d(legs))
        route = Route(
            waypoints=waypoints,
            length_m=sum(legs_m),
            legs_m=legs_m,
            fence=Fence(),
            point_of_interest=scene,
            standoff=waypoints[-1].point.distance_m(scene) > 1.0,
            cruise_altitude_m=waypoints[-1].relative_altitude_m,
            altitude_limit=self._altitude_under_ceilings(
                LineString([self.airspace.frame.to_xy(w.point) for w in waypoints])
            )[1],
        )
        return self.fenced(route)

    def permitted(self, point: GeoPoint) -> bool:
        """True when a drone may fly at this point (area, no-fly buffers, low ceilings)."""
        return self._permitted_point(np.array(self.airspace.frame.to_xy(point)))

    def leg_permitted(self, start: GeoPoint, end: GeoPoint) -> bool:
        """True when a straight flight from `start` to `end` stays in permitted airspace."""
        frame = self.airspace.frame
        starts = np.array([frame.to_xy(start)])
        ends = np.array([frame.to_xy(end)])
        return bool(self._clear(starts, ends)[0])

    def keep_out_at(self, point: GeoPoint) -> Zone | None:
        """The zone (no-fly with its buffer, or a ceiling too low to fly under) that keeps
        drones away from `point`, if any."""
        here = Point(self.airspace.frame.to_xy(point))
        for i in self._keep_out_tree.query(here, predicate="intersects"):
            return self._keep_out_zones[int(i)]
        return None

    def refusal(self, point: GeoPoint) -> str | None:
        """Why no drone may fly at `point`, naming the zone and the setting that decides
        it; None where one may."""
        if not self._area.covers(Point(self.airspace.frame.to_xy(point))):
            return "outside the operational area"
        zone = self.keep_out_at(point)
        if zone is None:
            return None
        s = self.settings
        if zone.ceiling_m is not None:
            under_m = zone.ceiling_m - s.ceiling_clearance_m
            return (
                f"inside ceiling zone {zone.name!r} (ceiling {zone.ceiling_m:g} m above ground): "
                f"drones fly under a ceiling {s.ceiling_clearance_m:g} m below it, here at "
                f"{under_m:g} m, only where that is at least the minimum safe altitude "
                f"({s.min_safe_altitude_m:g} m); set [defaults] min_safe_alt_m = {under_m:g} "
                "or lower to fly under it, or move the station"
            )
        if self.airspace.no_fly_zone_at(point) is zone:
            return f"inside no-fly zone {zone.name!r}"
        return (
            f"within the {zone.buffer_m:g} m buffer of no-fly zone {zone.name!r}: set a smaller "
            "buffer_m on that feature (or [defaults] no_fly_buffer_m), or move the station"
        )

    # -- goal and stand-off -----------------------------------------------------

    def _goal(
        self, scene_xy: np.ndarray, scene: GeoPoint, start_xy: np.ndarray
    ) -> tuple[np.ndarray | None, bool, str | None]:
        """The scene, or the stand-off point: as close to the scene as permitted
        (within `standoff_slack_m` of the closest), and of those the nearest the station."""
        if self._permitted_point(scene_xy):
            return scene_xy, False, None
        region = self._standoff_region(float(scene_xy[0]), float(scene_xy[1]))
        if region is None:
            limit_m = self.settings.max_standoff_m
            reason = f"{self._why_not(scene)}; no permitted stand-off within {limit_m:.0f} m"
            return None, False, reason
        near, _ = nearest_points(region, Point(start_xy))
        return np.array([near.x, near.y]), True, None

    @lru_cache(maxsize=256)  # noqa: B019 - the planner lives as long as its deployment
    def _standoff_region(self, x_m: float, y_m: float) -> Polygon | MultiPolygon | None:
        """Permitted points within `standoff_slack_m` of the closest one to the scene.

        Every station ranked for one call asks this for the same scene: cached.
        """
        scene = Point(x_m, y_m)
        disk = scene.buffer(self.settings.max_standoff_m)
        local = self._area.intersection(disk)
        idx = self._keep_out_tree.query(disk)
        if len(idx):
            local = local.difference(shapely.union_all(self._keep_out[idx]))
        # Stay clear of the edge we stand off from, so the last leg is not grazing it.
        local = local.buffer(-self.settings.node_offset_m)
        if local.is_empty:
            return None
        closest_m = local.distance(scene)
        ring = local.intersection(scene.buffer(closest_m + self.settings.standoff_slack_m))
        return local if ring.is_empty else ring

    def _why_not(self, scene: GeoPoint) -> str:
        if not self.airspace.contains(scene):
            return "scene is outside the operational area"
        p = Point(self.airspace.frame.to_xy(scene))
        for zone in self._keep_out_zones:
            if zone.keep_out_local().covers(p):
                what = "ceiling zone" if zone.kind == "ceiling" else "no-fly zone"
                return f"scene is in {what} {zone.name!r}"
        return "scene is not in permitted airspace"

    # -- geometry checks --------------------------------------------------------

    def _permitted_point(self, xy: np.ndarray) -> bool:
        p = Point(xy)
        return bool(self._area.covers(p)) and not self._keep_out_union.intersects(p)

    def _clear(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """For segments starts[i]→ends[i], True where the segment is permitted."""
        lines = shapely.linestrings(np.stack([starts, ends], axis=1))
        return shapely.covers(self._area, lines) & ~shapely.intersects(self._keep_out_union, lines)

    # -- search -----------------------------------------------------------------

    def _shortest_path(self, s: np.ndarray, g: np.ndarray) -> list[np.ndarray] | None:
        if self._clear(s[None, :], g[None, :])[0]:
            return [s, g]
        if self._node_tree is None:
            return None
        direct = float(np.hypot(*(g - s)))
        bound = 1.02 * direct + 4 * self.settings.node_offset_m + 50.0
        ceiling = self._search_limit(s, g)
        while True:
            path, length = self._astar(s, g, bound)
            if path is not None and length <= bound + 1e-6:
                return path
            if bound >= ceiling:
                return path
            bound = min(max(1.3 * bound, length if path is not None else 0.0), ceiling)

    def _search_limit(self, s: np.ndarray, g: np.ndarray) -> float:
        minx, miny, maxx, maxy = self._area.bounds
        diag = math.hypot(maxx - minx, maxy - miny)
        return 2 * diag + float(np.hypot(*(g - s)))

    def _astar(
        self, s: np.ndarray, g: np.ndarray, bound: float
    ) -> tuple[list[np.ndarray] | None, float]:
        """A* over start, the corners inside the ellipse `bound`, and goal.

        Point 0 is the start, point n-1 the goal, the rest corners (`ids` maps
        them to the planner's corner numbers, whose mutual visibility is cached).
        """
        ids = self._node_ids_in_ellipse(s, g, bound)
        pts = np.vstack([s[None, :], self._nodes[ids], g[None, :]])
        n = len(pts)
        goal = n - 1
        from_start = self._clear(np.repeat(s[None, :], n - 1, 0), pts[1:])
        to_goal = self._clear(pts[:-1], np.repeat(g[None, :], n - 1, 0))
        h = np.hypot(pts[:, 0] - g[0], pts[:, 1] - g[1])
        cost = np.full(n, np.inf)
        cost[0] = 0.0
        parent = np.full(n, -1)
        closed = np.zeros(n, dtype=bool)
        heap = [(h[0], 0)]
        while heap:
            _, u = heapq.heappop(heap)
            if closed[u]:
                continue
            if u == goal:
                break
            closed[u] = True
            d = np.hypot(pts[:, 0] - pts[u, 0], pts[:, 1] - pts[u, 1])
            new_cost = cost[u] + d
            todo = np.flatnonzero(~closed & (new_cost < cost) & (new_cost + h <= bound + 1e-6))
            if not len(todo):
                continue
            if u == 0:
                ok = from_start[todo - 1]
            else:
                ok = np.zeros(len(todo), dtype=bool)
                corners = todo < goal
                ok[corners] = self._corners_visible(int(ids[u - 1]), ids[todo[corners] - 1])
                ok[~corners] = to_goal[u]
            for v in todo[ok]:
                cost[v] = new_cost[v]
                parent[v] = u
                heapq.heappush(heap, (cost[v] + h[v], int(v)))
        if not np.isfinite(cost[goal]):
            return None, math.inf
        path = [goal]
        while path[-1] != 0:
            path.append(int(parent[path[-1]]))
        return [pts[i] for i in reversed(path)], float(cost[goal])

    def _corners_visible(self, a: int, others: np.ndarray) -> np.ndarray:
        """Whether corner `a` sees each of `others`, computed once per pair and cached."""
        if self._visibility is None:
            n = len(others)
            return self._clear(np.repeat(self._nodes[a][None, :], n, 0), self._nodes[others])
        row = self._visibility[a, others]
        unknown = others[row == 0]
        if len(unknown):
            seen = self._clear(
                np.repeat(self._nodes[a][None, :], len(unknown), 0), self._nodes[unknown]
            )
            code = np.where(seen, 1, 2).astype(np.int8)
            self._visibility[a, unknown] = code
            self._visibility[unknown, a] = code
            row = self._visibility[a, others]
        return row == 1

    def _node_ids_in_ellipse(self, s: np.ndarray, g: np.ndarray, bound: float) -> np.ndarray:
        assert self._node_tree is not None
        half = bound / 2
        mid = (s + g) / 2
        box = shapely.box(mid[0] - half, mid[1] - half, mid[0] + half, mid[1] + half)
        idx = self._node_tree.query(box)
        pts = self._nodes[idx]
        dsum = np.hypot(*(pts - s).T) + np.hypot(*(pts - g).T)
        return idx[dsum <= bound]

    # -- corners ----------------------------------------------------------------

    def _corner_nodes(self, keep_out: list[Polygon | MultiPolygon]) -> np.ndarray:
        """Corners a shortest path may bend at, nudged into free space and kept if free."""
        off = self.settings.node_offset_m
        out: list[np.ndarray] = []
        for shape in keep_out:
            for poly in _polygons(shape):
                out.append(_nudged_corners(poly.exterior, off, convex=True))
                out += [_nudged_corners(r, off, convex=False) for r in poly.interiors]
        for poly in _polygons(self._area):
            out.append(_nudged_corners(poly.exterior, off, convex=False))
            out += [_nudged_corners(r, off, convex=True) for r in poly.interiors]
        nodes = (
            np.vstack([o for o in out if len(o)]) if any(len(o) for o in out) else np.empty((0, 2))
        )
        if not len(nodes):
            return nodes
        pts = shapely.points(nodes)
        free = shapely.covers(self._area, pts) & ~shapely.intersects(self._keep_out_union, pts)
        return nodes[free]

    # -- output -----------------------------------------------------------------

    def _altitude_under_ceilings(self, line: LineString | None) -> tuple[float, str | None]:
        """The cruise altitude along `line`: under every ceiling zone it passes, the
        ceiling less the clearance; and what limits it, said for the pilot."""
        s = self.settings
        altitude_m, limit = s.cruise_altitude_m, None
        if line is None or not len(self._under) or line.length <= 0:
            return altitude_m, limit
        for i in self._under_tree.query(line, predicate="intersects"):
            zone = self._under[int(i)]
            under_m = zone.flown_under_m(s.ceiling_clearance_m)
            if under_m < altitude_m:
                altitude_m = under_m
                limit = (
                    f"{under_m:g} m: under {zone.name!r} (ceiling {zone.ceiling_m:g} m,"
                    f" {s.ceiling_clearance_m:g} m clearance)"
                )
        return altitude_m, limit

    def _route(self, path: list[np.ndarray], scene: GeoPoint, standoff: bool) -> Route:
        frame = self.airspace.frame
        line = LineString(path) if len(path) > 1 else None
        altitude_m, limit = self._altitude_under_ceilings(line)

        lonlat = frame.xy_array_to_lonlat(np.array(path))
        waypoints = [Waypoint(float(lonlat[0, 1]), float(lonlat[0, 0]), 0.0)]
        waypoints += [Waypoint(float(lat), float(lon), altitude_m) for lon, lat in lonlat[1:]]
        _, _, legs = WGS84_GEOD.inv(lonlat[:-1, 0], lonlat[:-1, 1], lonlat[1:, 0], lonlat[1:, 1])
        legs_m = tuple(float(x) for x in np.atleast_1d(legs))
        return Route(
            waypoints=tuple(waypoints),
            length_m=sum(legs_m),
            legs_m=legs_m,
            fence=Fence(),
            point_of_interest=scene,
            standoff=standoff,
            altitude_limit=limit,
            cruise_altitude_m=altitude_m,
            turn_angles_deg=_turn_angles_deg(path),
        )

    def _fence(self, near: LineString | Point, within_m: float | None = None) -> Fence:
        """The operational area as inclusion, and the keep-out zones nearest `near`."""
        idx = self._keep_out_tree.query(
            near, predicate="dwithin", distance=within_m or self.settings.fence_radius_m
        )
        if len(idx) > self.settings.max_fence_zones:
            dist = shapely.distance(self._keep_out[idx], near)
            idx = idx[np.argsort(dist, kind="stable")[: self.settings.max_fence_zones]]
        polygons = list(self._fence_inclusions)
        circles: list[FenceCircle] = []
        for i in sorted(idx):
            zone_polygons, zone_circle = self._fence_zones[i]
            polygons += zone_polygons
            if zone_circle is not None:
                circles.append(zone_circle)
        return Fence(polygons=tuple(polygons), circles=tuple(circles))


def _fence_shapes(zone: Zone) -> tuple[list[FencePolygon], FenceCircle | None]:
    """A keep-out zone as the vehicle's exclusion fence: the zone itself, not its buffer."""
    if isinstance(zone.shape_geo, Point):
        center = GeoPoint(zone.shape_geo.y, zone.shape_geo.x)
        return [], FenceCircle(center, float(zone.radius_m or 0.0), inclusion=False)
    return [
        FencePolygon(_ring_latlon(p.exterior.coords), inclusion=False)
        for p in _polygons(zone.shape_geo)
    ], None


def _polygons(shape: Polygon | MultiPolygon) -> list[Polygon]:
    if isinstance(shape, Polygon):
        return [] if shape.is_empty else [shape]
    return [p for p in shape.geoms if not p.is_empty]


def _ring_latlon(coords: object) -> tuple[tuple[float, float], ...]:
    pts = list(coords)  # type: ignore[call-overload]
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts = pts[:-1]
    return tuple((float(lat), float(lon)) for lon, lat, *_ in pts)


def _nudged_corners(ring: object, offset_m: float, *, convex: bool) -> np.ndarray:
    """Corners of `ring` that bulge into free space, moved `offset_m` into it.

    The ring is oriented counter-clockwise first. Where free space is outside
    the ring (an obstacle, a hole of the area) its convex corners are the
    candidates and move outward; where free space is inside (the area, a hole
    of an obstacle) its reflex corners are, and move inward.
    """
    pts = np.asarray(shapely.get_coordinates(orient(Polygon(ring))))[:-1]
    if len(pts) < 3:
        return np.empty((0, 2))
    prev = np.roll(pts, 1, axis=0)
    nxt = np.roll(pts, -1, axis=0)
    e1 = pts - prev
    e2 = nxt - pts
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    is_convex = cross > 1e-9
    pick = is_convex if convex else cross < -1e-9
    # Outward normal of a CCW ring edge (dx, dy) is (dy, -dx).
    n1 = np.column_stack([e1[:, 1], -e1[:, 0]])
    n2 = np.column_stack([e2[:, 1], -e2[:, 0]])
    n1 /= np.linalg.norm(n1, axis=1)[:, None]
    n2 /= np.linalg.norm(n2, axis=1)[:, None]
    bis = n1 + n2
    norm = np.linalg.norm(bis, axis=1)
    ok = pick & (norm > 1e-9)
    bis = bis[ok] / norm[ok][:, None]
    # Step far enough along the bisector that both edges are `offset_m` away.
    cos_half = np.clip(np.einsum("ij,ij->i", bis, n1[ok]), 0.2, 1.0)
    step = offset_m / cos_half
    direction = bis if convex else -bis
    return pts[ok] + direction * step[:, None]


def _turn_angles_deg(path: list[np.ndarray]) -> tuple[float, ...]:
    """Heading change at each interior vertex, degrees (0 = straight on)."""
    angles = []
    for a, b, c in zip(path, path[1:], path[2:], strict=False):
        u, v = b - a, c - b
        nu, nv = np.linalg.norm(u), np.linalg.norm(v)
        if nu < 1e-9 or nv < 1e-9:
            angles.append(0.0)
            continue
        cos = float(np.clip(np.dot(u, v) / (nu * nv), -1.0, 1.0))
        angles.append(math.degrees(math.acos(cos)))
    return tuple(angles)
