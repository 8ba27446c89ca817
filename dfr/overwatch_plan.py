"""Continuous overwatch, the arithmetic (pure): how long a drone watching a call may stay
on scene, how long it has left, when its relief must launch, and where the relief watches
from.

A drone on an overwatch call stays on scene until its battery leaves only what the way
home and the reserve need (`on_scene_budget_s`, flown as its mission's loiter, so the
vehicle leaves in time even without dfr). Its time left is the sooner of that plan and
what its battery, draining as measured, still allows (`time_left_s`). The relief launches
when its ETA plus the handover margin reaches that (`relief_due`), and watches from a point
`separation_m` from the scene, as far as it can be from the drone it relieves and that
drone's straight way home (`relief_points`), so the two never share a point in the sky.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from shapely.geometry import LineString, Point

from missions.geo import GeoPoint, LocalFrame

#: Bearings the relief may watch from, every 30°.
_BEARINGS_DEG = tuple(range(0, 360, 30))
#: Fewer seconds of battery history than this is no drain rate (it starts noisy).
MIN_DRAIN_WINDOW_S = 20.0


def on_scene_budget_s(
    endurance_s: float,
    battery_pct: float,
    reserve_pct: float,
    way_there_s: float,
    way_home_s: float,
) -> float:
    """Seconds on scene a drone leaving with `battery_pct` can give, the flight there and
    the straight way home flown and `reserve_pct` left.

    >>> on_scene_budget_s(2400.0, 100.0, 25.0, 90.0, 110.0)
    1600.0
    >>> on_scene_budget_s(2400.0, 30.0, 25.0, 90.0, 110.0)
    0.0
    """
    usable_s = endurance_s * max(battery_pct - reserve_pct, 0.0) / 100.0
    return max(usable_s - way_there_s - way_home_s, 0.0)


def return_threshold_pct(endurance_s: float, reserve_pct: float, way_home_s: float) -> float:
    """The battery at which a drone on scene must leave: the way home and the reserve.

    >>> return_threshold_pct(2400.0, 25.0, 120.0)
    30.0
    """
    return reserve_pct + 100.0 * way_home_s / endurance_s


@dataclass
class BatteryTrend:
    """A watching drone's battery over vehicle time, for its drain rate."""

    first_s: float | None = None
    first_pct: float | None = None
    last_s: float | None = None
    last_pct: float | None = None

    def add(self, vehicle_s: float, pct: float) -> None:
        if self.first_s is None or self.last_s is None or vehicle_s < self.last_s:
            self.first_s, self.first_pct = vehicle_s, pct  # first sample, or a reboot
        self.last_s, self.last_pct = vehicle_s, pct

    @property
    def drain_pct_per_s(self) -> float | None:
        """The mean drain since the first sample; None until there is enough of it."""
        if self.first_s is None or self.last_s is None:
            return None
        span = self.last_s - self.first_s
        if span < MIN_DRAIN_WINDOW_S or self.first_pct is None or self.last_pct is None:
            return None
        return max(self.first_pct - self.last_pct, 0.0) / span


def time_left_s(
    planned_left_s: float | None,
    battery_pct: float | None,
    threshold_pct: float,
    drain_pct_per_s: float | None,
    endurance_s: float,
) -> float:
    """Seconds until a drone on scene leaves: its mission's loiter left (`planned_left_s`,
    None when unknown), or sooner when its battery reaches `threshold_pct` at the rate it
    drains (until measured: the drone's endurance on a full battery; measured not to
    drain: no sooner).

    >>> time_left_s(600.0, 80.0, 30.0, 0.1, 2000.0)
    500.0
    >>> time_left_s(300.0, 80.0, 30.0, None, 2000.0)
    300.0
    >>> time_left_s(300.0, 50.0, 30.0, 0.0, 2000.0)  # reads flat (a simulator's floor)
    300.0
    """
    left = math.inf if planned_left_s is None else max(planned_left_s, 0.0)
    if battery_pct is None:
        return left
    if battery_pct <= threshold_pct:
        return 0.0
    rate = 100.0 / endurance_s if drain_pct_per_s is None else drain_pct_per_s
    if rate > 0.0:  # a battery measured not to drain (yet) sets no limit of its own
        left = min(left, (battery_pct - threshold_pct) / rate)
    return left


def relief_due(left_s: float, relief_eta_s: float, handover_s: float, slack_s: float) -> bool:
    """Whether the relief must launch now to be on scene `handover_s` before the drone it
    relieves leaves (`slack_s`: how late the next look may come).

    >>> relief_due(400.0, 120.0, 60.0, 10.0), relief_due(190.0, 120.0, 60.0, 10.0)
    (False, True)
    """
    return left_s <= relief_eta_s + handover_s + slack_s


def relief_points(
    scene: GeoPoint,
    separation_m: float,
    watcher: GeoPoint,
    watcher_home: GeoPoint,
    relief_home: GeoPoint,
) -> Iterator[GeoPoint]:
    """Where a relief may watch from, best first: points `separation_m` from the scene,
    ranked by their distance from the drone it relieves (`watcher`) and from that drone's
    straight way home, then by how near they lie to the relief's own station (it comes from
    there, never across the other drone). The caller takes the first its airspace allows.

    >>> scene = GeoPoint(38.0, -104.0)
    >>> north, south = GeoPoint(38.01, -104.0), GeoPoint(37.99, -104.0)
    >>> first = next(relief_points(scene, 40.0, scene, north, south))
    >>> round(scene.distance_m(first)), round(scene.bearing_deg(first)) % 360
    (40, 180)
    """
    frame = LocalFrame(scene)
    way_home = LineString([frame.to_xy(watcher), frame.to_xy(watcher_home)])
    home_x, home_y = frame.to_xy(relief_home)

    def rank(bearing_deg: float) -> tuple[float, float]:
        x = separation_m * math.sin(math.radians(bearing_deg))
        y = separation_m * math.cos(math.radians(bearing_deg))
        clear_m = way_home.distance(Point(x, y))
        # Clearance counts to the metre; beyond twice the separation, all is clear.
        return (-round(min(clear_m, 2 * separation_m)), math.hypot(home_x - x, home_y - y))

    for bearing in sorted(_BEARINGS_DEG, key=rank):
        x = separation_m * math.sin(math.radians(bearing))
        y = separation_m * math.cos(math.radians(bearing))
        yield frame.to_geo(x, y)
