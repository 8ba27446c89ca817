"""Estimated time on scene: launch + climb + a speed profile along the route.

The model, per drone profile and route::

    eta = launch_latency                      dock open, arm, spool up, takeoff detected
        + takeoff_altitude / climb            straight up to the takeoff item's altitude
        + max(horizontal, rest of climb)      climbing while cruising
        + arrival_settle                      inside the acceptance radius and steady

`horizontal` is a trapezoidal speed profile over the legs: accelerate at
`horizontal_accel_m_s2` to cruise speed, slow to a corner speed at each turn
(straight on: no slow-down; a U-turn: a stop), stop at the scene. The
parameters are explicit so they can be calibrated against flown sorties.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from missions.profile import DroneProfile
from missions.route import Route


@dataclass(frozen=True, slots=True)
class EtaParameters:
    """The model's figures; defaults are PX4 SITL's measured behaviour."""

    launch_latency_s: float = 3.0
    takeoff_altitude_m: float = 10.0
    horizontal_accel_m_s2: float = 2.1
    arrival_settle_s: float = 1.0
    land_speed_m_s: float = 1.0


@dataclass(frozen=True, slots=True)
class EtaBreakdown:
    """Where the time goes, seconds."""

    launch_s: float
    takeoff_s: float
    cruise_s: float
    settle_s: float

    @property
    def total_s(self) -> float:
        return self.launch_s + self.takeoff_s + self.cruise_s + self.settle_s

    @property
    def flight_s(self) -> float:
        """Time in the air on the way out (the launch latency is spent on the ground)."""
        return self.takeoff_s + self.cruise_s + self.settle_s


def corner_speed_fraction(turn_deg: float) -> float:
    """Share of cruise speed kept through a turn of `turn_deg` degrees.

    >>> corner_speed_fraction(0.0), corner_speed_fraction(90.0), corner_speed_fraction(180.0)
    (1.0, 0.5, 0.0)
    """
    return round((1.0 + math.cos(math.radians(turn_deg))) / 2.0, 12)


def profile_time_s(
    legs_m: Sequence[float],
    turns_deg: Sequence[float],
    speed_m_s: float,
    accel_m_s2: float,
    start_m_s: float = 0.0,
) -> float:
    """Time to fly `legs_m` to rest with corner slow-downs (trapezoids), from rest or
    from `start_m_s` along the first leg.

    >>> round(profile_time_s([1500.0], [], 19.9, 2.1), 1)
    84.9
    >>> round(profile_time_s([1500.0], [], 19.9, 2.1, start_m_s=19.9), 1)
    80.1
    """
    if not legs_m or sum(legs_m) <= 0:
        return 0.0
    # Speed limit at each vertex: at rest at the end, corner speed between.
    start = min(max(start_m_s, 0.0), speed_m_s)
    limit = [start, *(speed_m_s * corner_speed_fraction(t) for t in turns_deg), 0.0]
    v = list(limit)
    for i, d in enumerate(legs_m):  # forward: cannot accelerate faster than `accel`
        v[i + 1] = min(v[i + 1], math.sqrt(v[i] ** 2 + 2 * accel_m_s2 * d))
    for i in range(len(legs_m) - 1, -1, -1):  # backward: must be able to brake
        v[i] = min(v[i], math.sqrt(v[i + 1] ** 2 + 2 * accel_m_s2 * legs_m[i]))
    return sum(_leg_time_s(d, v[i], v[i + 1], speed_m_s, accel_m_s2) for i, d in enumerate(legs_m))


def _leg_time_s(d: float, v0: float, v1: float, vmax: float, a: float) -> float:
    if d <= 0:
        return 0.0
    peak = min(vmax, math.sqrt(a * d + (v0**2 + v1**2) / 2))
    d_acc = (peak**2 - v0**2) / (2 * a)
    d_dec = (peak**2 - v1**2) / (2 * a)
    cruise = max(0.0, d - d_acc - d_dec)
    t = (peak - v0) / a + (peak - v1) / a
    return t + (cruise / peak if peak > 0 else 0.0)


def route_legs_m(route: Route) -> list[float]:
    """Horizontal lengths of the route's legs, metres."""
    if route.legs_m:
        return list(route.legs_m)
    w = route.waypoints
    return [w[i].point.distance_m(w[i + 1].point) for i in range(len(w) - 1)]


def estimate(route: Route, drone: DroneProfile, params: EtaParameters) -> EtaBreakdown:
    """Time from dispatch to on scene for `drone` flying `route`."""
    takeoff_m = min(params.takeoff_altitude_m, route.cruise_altitude_m)
    takeoff_s = takeoff_m / drone.climb_m_s
    climb_rest_s = (route.cruise_altitude_m - takeoff_m) / drone.climb_m_s
    horizontal_s = profile_time_s(
        route_legs_m(route),
        route.turn_angles_deg,
        drone.cruise_speed_m_s,
        params.horizontal_accel_m_s2,
    )
    return EtaBreakdown(
        launch_s=params.launch_latency_s,
        takeoff_s=takeoff_s,
        cruise_s=max(horizontal_s, climb_rest_s),
        settle_s=params.arrival_settle_s,
    )


def return_time_s(route: Route, drone: DroneProfile, params: EtaParameters) -> float:
    """Time from the scene back to the dock: fly the route back, then land."""
    horizontal_s = profile_time_s(
        route_legs_m(route)[::-1],
        route.turn_angles_deg[::-1],
        drone.cruise_speed_m_s,
        params.horizontal_accel_m_s2,
    )
    return horizontal_s + _landing_s(route.cruise_altitude_m, drone, params)


def straight_return_time_s(
    distance_m: float, altitude_m: float, drone: DroneProfile, params: EtaParameters
) -> float:
    """Time home in a straight line over `distance_m` (PX4's RTL), then land from
    `altitude_m`."""
    horizontal_s = profile_time_s(
        [distance_m], [], drone.cruise_speed_m_s, params.horizontal_accel_m_s2
    )
    return horizontal_s + _landing_s(altitude_m, drone, params)


def _landing_s(altitude_m: float, drone: DroneProfile, params: EtaParameters) -> float:
    return altitude_m / min(params.land_speed_m_s, drone.descent_m_s)


#: Dispatch to the new mission under way for a drone already flying: the mission and
#: fence uploaded and verified in flight (no arming, no takeoff).
RETASK_LATENCY_S = 1.0


def airborne_estimate(
    route: Route,
    drone: DroneProfile,
    params: EtaParameters,
    along_m_s: float,
    altitude_m: float,
) -> EtaBreakdown:
    """Time to the scene for a drone already in the air at the start of `route`, moving
    at `along_m_s` along its first leg (negative: away from it, so it brakes first and
    flies back what it drifted), at `altitude_m` above its home."""
    legs = route_legs_m(route)
    a = params.horizontal_accel_m_s2
    brake_s = 0.0
    if along_m_s < 0 and legs:
        brake_s = -along_m_s / a
        legs = [legs[0] + along_m_s**2 / (2 * a), *legs[1:]]
    horizontal_s = brake_s + profile_time_s(
        legs, route.turn_angles_deg, drone.cruise_speed_m_s, a, start_m_s=max(along_m_s, 0.0)
    )
    climb_s = max(route.cruise_altitude_m - altitude_m, 0.0) / drone.climb_m_s
    return EtaBreakdown(
        launch_s=RETASK_LATENCY_S,
        takeoff_s=0.0,
        cruise_s=max(horizontal_s, climb_s),
        settle_s=params.arrival_settle_s,
    )


def straight_line_time_s(distance_m: float, drone: DroneProfile, params: EtaParameters) -> float:
    """A lower bound of the flight time over `distance_m`, for range pre-checks."""
    climb_s = 0.0 if distance_m <= 0 else params.takeoff_altitude_m / drone.climb_m_s
    return climb_s + profile_time_s(
        [distance_m], [], drone.cruise_speed_m_s, params.horizontal_accel_m_s2
    )


@dataclass(frozen=True, slots=True)
class FlownSortie:
    """A flown sortie's measured times in vehicle seconds, for calibration."""

    route: Route
    drone: DroneProfile
    dispatch_to_takeoff_s: float
    dispatch_to_on_scene_s: float


def calibrate(flown: Sequence[FlownSortie], params: EtaParameters) -> EtaParameters:
    """Fit launch latency and effective acceleration to flown sorties.

    Launch latency is the median measured dispatch→takeoff; the acceleration
    is the value in [0.5, 8] m/s² minimising the squared arrival error.
    """
    if not flown:
        return params
    launches = sorted(f.dispatch_to_takeoff_s for f in flown)
    fitted = replace(params, launch_latency_s=launches[len(launches) // 2])
    return replace(fitted, horizontal_accel_m_s2=fit_acceleration(flown, fitted))


def fit_acceleration(
    flown: Sequence[FlownSortie],
    params: EtaParameters,
    loss: Callable[[float], float] = lambda error_s: error_s * error_s,
    bounds_m_s2: tuple[float, float] = (0.5, 8.0),
) -> float:
    """The acceleration within `bounds_m_s2` minimising the summed `loss` of the arrival
    errors (seconds) of `flown` under `params`; rounded to 1 mm/s²."""

    def error(accel: float) -> float:
        p = replace(params, horizontal_accel_m_s2=accel)
        return sum(
            loss(estimate(f.route, f.drone, p).total_s - f.dispatch_to_on_scene_s) for f in flown
        )

    # Golden-section search (the error is unimodal in accel), one new point a step,
    # until the bracket is far narrower than the rounding.
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    lo, hi = bounds_m_s2
    m1, m2 = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
    e1, e2 = error(m1), error(m2)
    while hi - lo > 1e-4:
        if e1 < e2:
            hi, m2, e2 = m2, m1, e1
            m1 = hi - inv_phi * (hi - lo)
            e1 = error(m1)
        else:
            lo, m1, e1 = m1, m2, e2
            m2 = lo + inv_phi * (hi - lo)
            e2 = error(m2)
    return round((lo + hi) / 2, 3)
