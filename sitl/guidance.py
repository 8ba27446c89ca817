"""PX4's autonomous-mode speed rules as pure functions (behaviour of TrajMath and FlightTaskAuto).

- Braking: the speed allowed at `distance` from a point that must be passed at
  `final_speed`, given the jerk and acceleration limits, and never more than
  `distance * MPC_XY_TRAJ_P` when the vehicle must stop there.
- Cornering: an intermediate waypoint may be passed at the speed of a circle
  tangent to both legs within the acceptance radius, with a centripetal acceleration
  of MPC_XY_TRAJ_P * MPC_ACC_HOR: straight through costs nothing, a hairpin a stop.
- Waypoint legs (PX4's position smoothing): the vehicle heads straight for the
  waypoint in 3D, so a climb is spread over the whole leg; the horizontal speed
  brakes for the speed allowed at the waypoint and the vertical speed brakes to stop
  there, and whichever limit binds scales the whole velocity: a leg that still climbs
  as it ends slows down horizontally too.

>>> round(max_speed_in_turn(math.pi / 2, accel_m_s2=1.5, radius_m=10.0), 2)
3.87
>>> max_speed_in_turn(math.pi, accel_m_s2=1.5, radius_m=10.0)
inf
>>> round(max_speed_from_distance(jerk_m_s3=4.0, accel_m_s2=3.0, distance_m=100.0), 1)
20.4
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpeedLimits:
    """The parameters the speed rules read, in SI units."""

    cruise_m_s: float
    accel_m_s2: float
    jerk_m_s3: float
    traj_p_per_s: float


def max_speed_from_distance(
    jerk_m_s3: float, accel_m_s2: float, distance_m: float, final_speed_m_s: float = 0.0
) -> float:
    """Highest speed from which the vehicle can reach `final_speed_m_s` within `distance_m`."""
    b = 4.0 * accel_m_s2 * accel_m_s2 / jerk_m_s3
    c = -2.0 * accel_m_s2 * max(distance_m, 0.0) - final_speed_m_s * final_speed_m_s
    speed = 0.5 * (-b + math.sqrt(b * b - 4.0 * c))
    return max(speed, final_speed_m_s)


def max_speed_in_turn(alpha_rad: float, accel_m_s2: float, radius_m: float) -> float:
    """Speed through a waypoint whose legs open by `alpha_rad` (pi = straight on)."""
    if alpha_rad >= math.pi - 1e-6:
        return math.inf
    return math.sqrt(accel_m_s2 * radius_m * math.tan(max(alpha_rad, 0.0) / 2.0))


def braking_distance_m(speed_m_s: float, accel_m_s2: float, jerk_m_s3: float) -> float:
    """Distance needed to stop from `speed_m_s` (constant deceleration after a jerk ramp)."""
    return speed_m_s * speed_m_s / (2.0 * accel_m_s2) + speed_m_s * accel_m_s2 / jerk_m_s3


def leg_angle_rad(
    prev_xy: tuple[float, float], at_xy: tuple[float, float], next_xy: tuple[float, float]
) -> float:
    """Angle at `at_xy` between the legs to `prev_xy` and to `next_xy` (pi = straight on)."""
    ax, ay = prev_xy[0] - at_xy[0], prev_xy[1] - at_xy[1]
    bx, by = next_xy[0] - at_xy[0], next_xy[1] - at_xy[1]
    na, nb = math.hypot(ax, ay), math.hypot(bx, by)
    if na < 1e-6 or nb < 1e-6:
        return 0.0
    cos_alpha = max(-1.0, min(1.0, (ax * bx + ay * by) / (na * nb)))
    return math.acos(cos_alpha)


def corner_speed_m_s(
    prev_xy: tuple[float, float],
    at_xy: tuple[float, float],
    next_xy: tuple[float, float],
    acceptance_radius_m: float,
    limits: SpeedLimits,
) -> float:
    """Speed allowed when passing `at_xy` on the way from `prev_xy` to `next_xy`."""
    alpha = leg_angle_rad(prev_xy, at_xy, next_xy)
    turn = max_speed_in_turn(alpha, limits.traj_p_per_s * limits.accel_m_s2, acceptance_radius_m)
    next_leg = math.hypot(next_xy[0] - at_xy[0], next_xy[1] - at_xy[1])
    stop_after = min(
        max_speed_from_distance(limits.jerk_m_s3, limits.accel_m_s2, next_leg),
        next_leg * limits.traj_p_per_s,
    )
    return min(turn, stop_after, limits.cruise_m_s)


def horizontal_velocity(
    x_m: float,
    y_m: float,
    target_x_m: float,
    target_y_m: float,
    limits: SpeedLimits,
    final_speed_m_s: float = 0.0,
) -> tuple[float, float]:
    """Velocity (east, north) toward the target under the braking rule."""
    dx, dy = target_x_m - x_m, target_y_m - y_m
    distance = math.hypot(dx, dy)
    if distance < 1e-3:
        return 0.0, 0.0
    speed = min(
        limits.cruise_m_s,
        max_speed_from_distance(limits.jerk_m_s3, limits.accel_m_s2, distance, final_speed_m_s),
    )
    if final_speed_m_s <= 0.0:
        speed = min(speed, distance * limits.traj_p_per_s)
    return speed * dx / distance, speed * dy / distance


def vertical_velocity(
    z_m: float,
    target_z_m: float,
    up_m_s: float,
    down_m_s: float,
    accel_m_s2: float,
    jerk_m_s3: float,
    traj_p_per_s: float,
) -> float:
    """Climb rate toward `target_z_m` (positive up), braking to stop there."""
    dz = target_z_m - z_m
    limit = up_m_s if dz > 0 else down_m_s
    speed = min(
        limit, max_speed_from_distance(jerk_m_s3, accel_m_s2, abs(dz)), abs(dz) * traj_p_per_s
    )
    return math.copysign(speed, dz)


def landing_descent_rate(
    altitude_m: float,
    auto_down_m_s: float,
    land_speed_m_s: float,
    crawl_m_s: float,
    alt1_m: float,
    alt2_m: float,
    alt3_m: float,
) -> float:
    """PX4's landing descent rate schedule (positive down).

    >>> landing_descent_rate(30.0, 1.5, 0.7, 0.3, 10.0, 5.0, 1.0)
    1.5
    >>> landing_descent_rate(7.5, 1.5, 0.7, 0.3, 10.0, 5.0, 1.0)
    1.1
    >>> landing_descent_rate(0.5, 1.5, 0.7, 0.3, 10.0, 5.0, 1.0)
    0.3
    """
    if altitude_m > alt1_m:
        return auto_down_m_s
    if altitude_m > alt2_m:
        fraction = (altitude_m - alt2_m) / max(alt1_m - alt2_m, 1e-6)
        return round(land_speed_m_s + fraction * (auto_down_m_s - land_speed_m_s), 6)
    if altitude_m > alt3_m:
        return land_speed_m_s
    return crawl_m_s


def speed_at_waypoint_m_s(
    position_xy: tuple[float, float],
    target_xy: tuple[float, float],
    next_xy: tuple[float, float] | None,
    acceptance_radius_m: float,
    limits: SpeedLimits,
) -> float:
    """Speed allowed when reaching `target_xy` from `position_xy`, on the way to `next_xy`
    (None: stop there), PX4's rule: the turn's speed, no more than what stops the vehicle
    at `next_xy`, 0 when the next point lies within the acceptance radius."""
    if next_xy is None:
        return 0.0
    next_leg = math.hypot(next_xy[0] - target_xy[0], next_xy[1] - target_xy[1])
    if next_leg < max(acceptance_radius_m, 1e-3):
        return 0.0
    alpha = leg_angle_rad(position_xy, target_xy, next_xy)
    if math.hypot(target_xy[0] - position_xy[0], target_xy[1] - position_xy[1]) < 1e-3:
        alpha = math.pi  # on the waypoint: no turn left to make
    turn = max_speed_in_turn(alpha, limits.traj_p_per_s * limits.accel_m_s2, acceptance_radius_m)
    exit_speed = max_speed_from_distance(limits.jerk_m_s3, limits.accel_m_s2, next_leg)
    return min(turn, exit_speed, limits.cruise_m_s)


#: Below this speed a limit on one axis no longer scales the other (PX4's clamp accuracy).
LINE_ACCURACY_M_S = 0.5


def line_velocity(
    dx_m: float,
    dy_m: float,
    dz_m: float,
    xy_speed_m_s: float,
    z_speed_m_s: float,
) -> tuple[float, float, float]:
    """Velocity straight at a point `dx, dy, dz` away (east, north, up), as fast as both
    the horizontal and the vertical speed limits allow: a limit that binds scales the
    whole vector, so the vehicle stays on the line (unless both that component and its
    limit are tiny: then only that component is scaled, as PX4 does).

    >>> [round(v, 2) for v in line_velocity(1000.0, 0.0, 50.0, 18.0, 5.0)]
    [18.0, 0.0, 0.9]
    >>> [round(v, 2) for v in line_velocity(20.0, 0.0, 10.0, 18.0, 2.0)]
    [4.0, 0.0, 2.0]
    """
    distance = math.sqrt(dx_m * dx_m + dy_m * dy_m + dz_m * dz_m)
    if distance < 1e-6:
        return 0.0, 0.0, 0.0
    speed = math.hypot(xy_speed_m_s, z_speed_m_s)
    vx, vy, vz = (speed * dx_m / distance, speed * dy_m / distance, speed * dz_m / distance)
    xy = math.hypot(vx, vy)
    if xy > xy_speed_m_s:
        scale = max(xy_speed_m_s, 0.0) / xy
        if xy < LINE_ACCURACY_M_S and xy_speed_m_s < LINE_ACCURACY_M_S:
            vx, vy = vx * scale, vy * scale  # over the point: leave the climb alone
        else:
            vx, vy, vz = vx * scale, vy * scale, vz * scale
    if abs(vz) > z_speed_m_s:
        scale = max(z_speed_m_s, 0.0) / abs(vz)
        if abs(vz) < LINE_ACCURACY_M_S and z_speed_m_s < LINE_ACCURACY_M_S:
            vz *= scale  # at the altitude: leave the horizontal speed alone
        else:
            vx, vy, vz = vx * scale, vy * scale, vz * scale
    return vx, vy, vz
