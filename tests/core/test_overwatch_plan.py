"""The overwatch arithmetic: on-scene budget, time left, when the relief is due and where
it watches from (clear of the drone it relieves and that drone's way home)."""

from __future__ import annotations

import doctest
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point

from dfr import overwatch_plan
from dfr.overwatch_plan import BatteryTrend, relief_points, time_left_s
from missions.geo import GeoPoint, LocalFrame


def test_the_examples_hold() -> None:
    assert doctest.testmod(overwatch_plan).failed == 0


def test_the_drain_is_measured_over_enough_time_and_restarts_after_a_reboot() -> None:
    trend = BatteryTrend()
    trend.add(100.0, 80.0)
    trend.add(110.0, 79.0)
    assert trend.drain_pct_per_s is None  # ten seconds say too little
    trend.add(150.0, 75.0)
    assert trend.drain_pct_per_s == 0.1
    trend.add(5.0, 74.0)  # the vehicle's clock went back: it rebooted
    assert trend.drain_pct_per_s is None


def test_the_battery_can_cut_the_plan_short_and_never_leaves_negative_time() -> None:
    assert time_left_s(900.0, 40.0, 30.0, 0.05, 2400.0) == 200.0
    assert time_left_s(None, 20.0, 30.0, 0.05, 2400.0) == 0.0
    assert time_left_s(-5.0, None, 30.0, None, 2400.0) == 0.0


bearings = st.floats(min_value=0, max_value=359.9)
distances = st.floats(min_value=0, max_value=3000)


@settings(deadline=None, max_examples=60)  # a projection per example: slow to build
@given(bearings, distances, bearings, st.floats(min_value=300, max_value=4000), bearings)
def test_the_relief_watches_clear_of_the_other_drone_and_its_way_home(
    at_deg: float, at_m: float, home_deg: float, home_m: float, relief_deg: float
) -> None:
    scene = GeoPoint(38.25, -104.6)
    frame = LocalFrame(scene)

    def polar(bearing: float, distance: float) -> GeoPoint:
        r = math.radians(bearing)
        return frame.to_geo(distance * math.sin(r), distance * math.cos(r))

    watcher = polar(at_deg, min(at_m, 40.0))  # on scene: within its standoff
    home = polar(home_deg, home_m)
    relief_home = polar(relief_deg, 2000.0)
    points = list(relief_points(scene, 40.0, watcher, home, relief_home))
    assert len(points) == 12
    for p in points:
        assert abs(scene.distance_m(p) - 40.0) < 0.5
    best = points[0]
    way_home = LineString([frame.to_xy(watcher), frame.to_xy(home)])
    clear = [way_home.distance(Point(frame.to_xy(p))) for p in points]
    # The best is (to the metre) as clear of the way home as any of the candidates.
    assert clear[0] >= min(max(clear), 80.0) - 1.0
    assert watcher.distance_m(best) >= 20.0 or max(clear) < 20.0


def test_a_restarted_server_reads_the_loiter_the_vehicle_flies() -> None:
    """An adopted sortie keeps the on-scene time that was uploaded (an overwatch
    sortie's is as long as its battery allowed), not the deployment's default."""
    from dfr.sortie_runner import planned_loiter_s
    from missions.mission_plan import MavCmd

    loiter = {"seq": 3, "command": int(MavCmd.NAV_LOITER_TIME), "param1": 1532.5}
    rtl = {"seq": 4, "command": int(MavCmd.NAV_RETURN_TO_LAUNCH)}
    assert planned_loiter_s({"mission": {"uploaded": [loiter, rtl]}}) == 1532.5
    read_back = {**loiter, "param1": 1532.0}
    both = {"mission": {"uploaded": [loiter], "read_back": [read_back, rtl]}}
    assert planned_loiter_s(both) == 1532.0
    assert planned_loiter_s({"fence": {"uploaded": []}}) is None
