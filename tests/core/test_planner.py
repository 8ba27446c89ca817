"""Route planner: permitted, optimal over random airspaces, stand-off, ceilings, clear reasons."""

from __future__ import annotations

import heapq
import math

import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point

from missions.airspace import parse_airspace
from missions.planner import PlannerSettings, RoutePlanner
from tests.core.conftest import FRAME, feature, polygon, square

AREA_HALF_M = 1500.0


def airspace(zones: list[dict], area_half: float = AREA_HALF_M, ceilings: list[dict] = ()):
    features = [feature("operational_area", "area", polygon(square(0, 0, area_half)))]
    features += zones + list(ceilings)
    return parse_airspace({"type": "FeatureCollection", "features": features}, frame=FRAME)


def route_xy(route) -> np.ndarray:
    return np.array([FRAME.to_xy(w.point) for w in route.waypoints])


def assert_permitted(planner: RoutePlanner, route) -> None:
    """The route never enters a buffered no-fly zone and never leaves the area."""
    line = LineString(route_xy(route)) if len(route.waypoints) > 1 else Point(route_xy(route)[0])
    assert planner.airspace.operational_area.buffer(0.01).covers(line)
    for zone in planner.airspace.no_fly:
        clearance = line.distance(zone.shape_local)
        assert clearance >= zone.buffer_m - 0.01, (zone.name, clearance)


def brute_force_length(planner: RoutePlanner, s: np.ndarray, g: np.ndarray) -> float:
    """Dijkstra over the complete visibility graph of every corner (convex or not)."""
    area = planner.airspace.operational_area
    keep_out = [z.keep_out_local() for z in planner.airspace.no_fly]
    union = shapely.union_all(keep_out) if keep_out else shapely.Polygon()
    nodes = [tuple(s), tuple(g)]
    for shape in keep_out:
        grown = shape.buffer(1.0, join_style="mitre", mitre_limit=5.0)
        for poly in getattr(grown, "geoms", [grown]):
            nodes += list(poly.exterior.coords)[:-1]
    shrunk = area.buffer(-1.0, join_style="mitre", mitre_limit=5.0)
    nodes += list(shrunk.exterior.coords)[:-1]
    nodes = [p for p in nodes if area.covers(Point(p)) and not union.intersects(Point(p))]

    def clear(a, b) -> bool:
        seg = LineString([a, b])
        return area.covers(seg) and not union.intersects(seg)

    dist = {0: 0.0}
    heap = [(0.0, 0)]
    done = set()
    while heap:
        d, u = heapq.heappop(heap)
        if u in done:
            continue
        if u == 1:
            return d
        done.add(u)
        for v in range(len(nodes)):
            if v in done:
                continue
            nd = d + math.dist(nodes[u], nodes[v])
            if nd < dist.get(v, math.inf) and clear(nodes[u], nodes[v]):
                dist[v] = nd
                heapq.heappush(heap, (nd, v))
    return math.inf


coord = st.floats(-1300, 1300)
zone_strategy = st.one_of(
    st.builds(
        lambda x, y, h, b: ("square", x, y, h, b),
        coord,
        coord,
        st.floats(30, 300),
        st.sampled_from([0.0, 50.0, 100.0]),
    ),
    st.builds(
        lambda x, y, r, b: ("circle", x, y, r, b),
        coord,
        coord,
        st.floats(30, 250),
        st.sampled_from([0.0, 50.0, 100.0]),
    ),
)


def make_zone(i: int, spec: tuple) -> dict:
    kind, x, y, size, buffer_m = spec
    if kind == "square":
        return feature("no_fly", f"z{i}", polygon(square(x, y, size)), buffer_m=buffer_m)
    lon, lat = FRAME.to_lonlat(x, y)
    return feature(
        "no_fly",
        f"z{i}",
        {"type": "Point", "coordinates": [lon, lat]},
        radius_m=size,
        buffer_m=buffer_m,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zones=st.lists(zone_strategy, max_size=6),
    start=st.tuples(coord, coord),
    goal=st.tuples(coord, coord),
)
def test_random_airspace_routes_are_permitted_and_optimal(zones, start, goal) -> None:
    planner = RoutePlanner(airspace([make_zone(i, z) for i, z in enumerate(zones)]))
    s, g = np.array(start), np.array(goal)
    s_geo, g_geo = FRAME.to_geo(*start), FRAME.to_geo(*goal)
    if not planner.permitted(s_geo) or not planner.permitted(g_geo):
        return
    plan = planner.plan(s_geo, g_geo)
    best = brute_force_length(planner, s, g)
    if plan.route is None:
        assert best == math.inf, plan.reason
        assert plan.reason
        return
    assert_permitted(planner, plan.route)
    xy = route_xy(plan.route)
    length = float(np.sum(np.hypot(*np.diff(xy, axis=0).T)))
    assert length <= best + 0.5
    assert np.allclose(xy[0], s, atol=0.01)
    assert np.allclose(xy[-1], g, atol=0.01)


def test_straight_line_when_nothing_is_in_the_way() -> None:
    planner = RoutePlanner(airspace([make_zone(0, ("square", 0, 1000, 100, 50))]))
    plan = planner.plan(FRAME.to_geo(-1000, 0), FRAME.to_geo(1000, 0))
    assert plan.route is not None
    assert len(plan.route.waypoints) == 2
    assert plan.route.waypoints[0].relative_altitude_m == 0
    assert plan.route.waypoints[1].relative_altitude_m == 60
    assert abs(plan.route.length_m - 2000) < 1.0


def test_detour_around_a_no_fly_zone_keeps_the_buffer() -> None:
    planner = RoutePlanner(airspace([make_zone(0, ("square", 0, 0, 200, 100))]))
    plan = planner.plan(FRAME.to_geo(-1000, 0), FRAME.to_geo(1000, 0))
    route = plan.route
    assert route is not None
    assert len(route.waypoints) == 4
    assert_permitted(planner, route)
    # Over the top of the grown 300 m-half square, just outside its corners.
    shortest = 2 * math.hypot(700, 300) + 600
    assert shortest < route.length_m < shortest + 5
    assert len(route.turn_angles_deg) == 2


def test_scene_in_no_fly_zone_gives_stand_off_with_scene_as_point_of_interest() -> None:
    planner = RoutePlanner(airspace([make_zone(0, ("circle", 500, 0, 150, 100))]))
    scene = FRAME.to_geo(500, 0)
    plan = planner.plan(FRAME.to_geo(-1000, 0), scene)
    route = plan.route
    assert route is not None
    assert route.standoff
    assert route.point_of_interest == scene
    target = np.array(FRAME.to_xy(route.target.point))
    assert planner.permitted(route.target.point)
    # The nearest permitted point on the side of the station: about 250 m west.
    assert 250 <= math.dist(target, (500, 0)) <= 250 + 30 + 2
    assert target[0] < 500
    assert_permitted(planner, route)


def test_enclosed_scene_gives_a_reason_not_an_exception() -> None:
    ring = polygon(square(800, 0, 400))
    ring["coordinates"].append(list(reversed(polygon(square(800, 0, 200))["coordinates"][0])))
    planner = RoutePlanner(airspace([feature("no_fly", "moat", ring, buffer_m=20)]))
    plan = planner.plan(FRAME.to_geo(-1000, 0), FRAME.to_geo(800, 0))
    assert plan.route is None
    assert "no permitted route" in (plan.reason or "")


def test_scene_far_outside_the_area_gives_a_reason() -> None:
    planner = RoutePlanner(airspace([]), PlannerSettings(max_standoff_m=300))
    plan = planner.plan(FRAME.to_geo(0, 0), FRAME.to_geo(5000, 0))
    assert plan.route is None
    assert (
        plan.reason == "scene is outside the operational area; no permitted stand-off within 300 m"
    )


def test_ceilings_flown_under_or_around() -> None:
    high = feature("ceiling", "high", polygon(square(0, 0, 200)), ceiling_m=50)
    low = feature("ceiling", "low", polygon(square(0, 0, 200)), ceiling_m=20)
    start, goal = FRAME.to_geo(-1000, 0), FRAME.to_geo(1000, 0)

    under = RoutePlanner(airspace([], ceilings=[high])).plan(start, goal).route
    assert under is not None
    assert len(under.waypoints) == 2
    assert under.cruise_altitude_m == 45.0
    assert {w.relative_altitude_m for w in under.waypoints[1:]} == {45.0}
    # The pilot is told what limits the altitude, also for a route restored after a restart.
    assert under.altitude_limit == "45 m: under 'high' (ceiling 50 m, 5 m clearance)"
    planner = RoutePlanner(airspace([], ceilings=[high]))
    restored = planner.restored(under.as_geojson(), goal)
    assert restored.altitude_limit == under.altitude_limit

    around = RoutePlanner(airspace([], ceilings=[low])).plan(start, goal).route
    assert around is not None
    assert len(around.waypoints) > 2
    assert around.cruise_altitude_m == 60.0
    assert around.altitude_limit is None
    assert LineString(route_xy(around)).distance(Point(0, 0).buffer(1).envelope) > 150


def test_fence_has_area_inclusion_and_zone_exclusions(pueblo) -> None:
    hq = pueblo.station("hq")
    plan = pueblo.planner.plan(hq.position, FRAME.to_geo(0, 1600))
    fence = plan.route.fence
    assert [p.inclusion for p in fence.polygons].count(True) == 1
    assert any(not p.inclusion for p in fence.polygons)
    assert {c.radius_m for c in fence.circles} == {150.0}
    assert all(not c.inclusion for c in fence.circles)


def test_thousands_of_zones_use_the_index(tmp_path) -> None:
    from dfr.deployment import load_deployment
    from dfr.synthetic import write_large_deployment

    d = load_deployment(write_large_deployment(tmp_path, stations=4, zones=2000, size_km=30))
    s = d.stations[0]
    for x, y in ((5000, 5000), (-8000, 3000), (2000, -9000)):
        plan = d.planner.plan(s.position, d.airspace.frame.to_geo(x, y))
        if plan.route is not None:
            line = LineString([d.airspace.frame.to_xy(w.point) for w in plan.route.waypoints])
            for zone in d.airspace.no_fly:
                assert line.distance(zone.shape_local) >= zone.buffer_m - 0.01
            assert len(plan.route.fence.polygons) <= 1 + 60
