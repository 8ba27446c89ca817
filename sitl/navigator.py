"""What the vehicle does in each flight mode, as a velocity command each physics step.

Mirrors PX4's navigator and flight tasks closely enough for MAVSDK and for timing:
- HOLD (AUTO_LOITER): stop at the braking point, or fly a DO_REPOSITION goto and
  stay there (PX4 keeps the mode HOLD during a goto).
- TAKEOFF: the motors spool up for COM_SPOOLUP_TIME after arming; then PX4's takeoff
  ramp raises the climb-rate limit from -g / MPC_Z_VEL_P_ACC to MPC_TKO_SPEED over
  MPC_TKO_RAMP_T, the climb accelerating at no more than MPC_TKO_SPEED / MPC_TKO_RAMP_T
  below MPC_LAND_ALT1 (then MPC_Z_V_AUTO_UP, MPC_ACC_UP_MAX), braking to stop at the
  takeoff altitude; then HOLD there.
- LAND: hold position and descend on PX4's altitude schedule (MPC_Z_V_AUTO_DN ->
  MPC_LAND_SPEED -> MPC_LAND_CRWL).
- ORBIT: DO_ORBIT circle; MISSION and RTL are delegated to their own modules.
Manual-stick modes (MANUAL, ALTCTL, POSCTL, ...) hold position: no sticks are moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sitl import guidance
from sitl.guidance import SpeedLimits
from sitl.modes import FlightMode
from sitl.params import ParamTable
from sitl.physics import GRAVITY_M_S2, VELOCITY_TAU_S, MotionCommand, MotionLimits, Multirotor

HEADING_MIN_DISTANCE_M = 2.0
#: PX4 counts a vehicle as turning while it flies more than acos(0.98) off the waypoint.
TURNING_COS = 0.98
TURNING_MIN_SPEED_M_S = 0.2
#: PX4 judges the takeoff altitude reached on its altitude estimate, which lags the climb:
#: its missions start their first leg ~0.4 s (median of 24 SITL takeoffs) after the
#: 0.8 m acceptance radius alone would. Modelled as a first-order lag.
ALTITUDE_ESTIMATE_LAG_S = 0.4
ORBIT_DEFAULT_RADIUS_M = 20.0
ORBIT_DEFAULT_SPEED_M_S = 2.0
ORBIT_RADIAL_GAIN_PER_S = 1.0
ORBIT_CAPTURE_M = 5.0


@dataclass(slots=True)
class Goal:
    """A position to fly to and keep (local metres, z from the EKF origin)."""

    x_m: float
    y_m: float
    z_m: float
    speed_m_s: float | None = None
    heading_rad: float | None = None


@dataclass(frozen=True, slots=True)
class Orbit:
    center_x_m: float
    center_y_m: float
    z_m: float
    radius_m: float
    speed_m_s: float  # positive: clockwise seen from above
    yaw_behavior: int


def heading_to(x_m: float, y_m: float, target_x_m: float, target_y_m: float) -> float:
    """Heading (rad, clockwise from north) from one point to another."""
    return math.atan2(target_x_m - x_m, target_y_m - y_m)


class Navigator:
    """Holds each mode's goal and turns it into a MotionCommand."""

    def __init__(self, params: ParamTable, airframe: Multirotor) -> None:
        self._params = params
        self._airframe = airframe
        self.goal = Goal(0.0, 0.0, 0.0)
        self.home = (0.0, 0.0, 0.0)
        self.takeoff_z_m = 0.0
        self.takeoff_start_s: float | None = None  # when the takeoff ramp starts
        self._altitude_estimate = (0.0, 0.0)  # (vehicle s, z m): the lagged altitude
        self.armed_at_s: float | None = None
        self.land_xy = (0.0, 0.0)
        self.orbit: Orbit | None = None
        self.roi: tuple[float, float] | None = None
        self.speed_override_m_s: float | None = None
        self._speed_before_turn_m_s = math.inf
        self.emergency_brake = False
        self.takeoff_done = False
        self.wind_xy = (0.0, 0.0)  # east, north m/s: where the airframe drifts without a fix
        # Set by a behaviour that has finished and wants the commander to change mode.
        self.requested_mode: FlightMode | None = None

    # limits

    def speed_limits(self, speed_m_s: float | None = None) -> SpeedLimits:
        p = self._params
        cruise = speed_m_s or self.speed_override_m_s or float(p.get("MPC_XY_CRUISE"))
        return SpeedLimits(
            cruise_m_s=min(cruise, float(p.get("MPC_XY_VEL_MAX"))),
            accel_m_s2=float(p.get("MPC_ACC_HOR")),
            jerk_m_s3=float(p.get("MPC_JERK_AUTO")),
            traj_p_per_s=float(p.get("MPC_XY_TRAJ_P")),
        )

    def motion_limits(self) -> MotionLimits:
        """PX4's limits; a failsafe stop brakes harder (MPC_ACC_HOR_MAX) until slow."""
        p = self._params
        if self.emergency_brake and self._airframe.ground_speed_m_s < 0.5:
            self.emergency_brake = False
        acc = p.get("MPC_ACC_HOR_MAX") if self.emergency_brake else p.get("MPC_ACC_HOR")
        return MotionLimits(
            acc_hor_m_s2=float(acc),
            jerk_m_s3=float(p.get("MPC_JERK_AUTO")),
            acc_up_m_s2=float(p.get("MPC_ACC_UP_MAX")),
            acc_down_m_s2=float(p.get("MPC_ACC_DOWN_MAX")),
            yaw_rate_max_rad_s=math.radians(float(p.get("MPC_YAWRAUTO_MAX"))),
            yaw_acc_max_rad_s2=math.radians(float(p.get("MPC_YAWRAUTO_ACC"))),
        )

    # mode entry

    def hold_here(self) -> None:
        """Stop where braking from the current velocity ends (PX4's loiter point)."""
        a = self._airframe
        speed = a.ground_speed_m_s
        x, y = a.x_m, a.y_m
        if speed > 0.1:
            limits = self.speed_limits()
            d = guidance.braking_distance_m(speed, limits.accel_m_s2, limits.jerk_m_s3)
            x += a.vx_m_s / speed * d
            y += a.vy_m_s / speed * d
        z = a.z_m + max(a.vz_m_s, 0.0) ** 2 / (2.0 * float(self._params.get("MPC_ACC_UP_MAX")))
        self.goal = Goal(x, y, z if not a.on_ground else 0.0)
        self.emergency_brake = False

    def hold_at(self, x_m: float, y_m: float, z_m: float, emergency: bool = False) -> None:
        self.goal = Goal(x_m, y_m, z_m)
        self.emergency_brake = emergency

    def reposition(self, goal: Goal) -> None:
        self.goal = goal
        self.emergency_brake = False
        self._speed_before_turn_m_s = math.inf

    def start_takeoff(self, now_s: float, target_z_m: float, from_ground: bool = True) -> None:
        """Take off to `target_z_m`; from the ground the ramp waits for the motors to spool
        up after arming. In the air (`from_ground=False`) the climb starts at once."""
        self.takeoff_z_m = target_z_m
        if from_ground:
            armed_at = self.armed_at_s if self.armed_at_s is not None else now_s
            spooled_at = armed_at + float(self._params.get("COM_SPOOLUP_TIME"))
            self.takeoff_start_s = max(now_s, spooled_at)
        else:
            self.takeoff_start_s = now_s - float(self._params.get("MPC_TKO_RAMP_T"))
        self.takeoff_done = False
        self._altitude_estimate = (now_s, self._airframe.z_m)
        self.goal = Goal(self._airframe.x_m, self._airframe.y_m, target_z_m)

    def start_land(self) -> None:
        self.land_xy = (self._airframe.x_m, self._airframe.y_m)

    def start_orbit(self, orbit: Orbit) -> None:
        self.orbit = orbit

    # per-step commands

    def hold_command(self, heading_rad: float | None = None) -> MotionCommand:
        """Fly to and keep `goal` (also the goto/reposition behaviour)."""
        a, goal = self._airframe, self.goal
        limits = self.speed_limits(goal.speed_m_s)
        vx, vy = guidance.horizontal_velocity(a.x_m, a.y_m, goal.x_m, goal.y_m, limits)
        vz = self.climb_rate_to(goal.z_m)
        if heading_rad is None:
            heading_rad = (
                goal.heading_rad
                if goal.heading_rad is not None
                else self.auto_heading(goal.x_m, goal.y_m)
            )
        return MotionCommand(vx, vy, vz, heading_rad)

    def leg_command(
        self, acceptance_radius_m: float, next_xy: tuple[float, float] | None = None
    ) -> MotionCommand:
        """Fly a leg to `goal` as PX4's position smoothing does: straight at it in 3D,
        braking for the speed allowed at the goal (a turn toward `next_xy`, or a stop),
        the vertical braking to stop at its altitude scaling the whole velocity; after a
        turn the speed stays where it was until the vehicle flies toward the goal."""
        a, goal = self._airframe, self.goal
        limits = self.speed_limits(goal.speed_m_s)
        dx, dy, dz = goal.x_m - a.x_m, goal.y_m - a.y_m, goal.z_m - a.z_m
        distance = math.hypot(dx, dy)
        arrival = guidance.speed_at_waypoint_m_s(
            (a.x_m, a.y_m), (goal.x_m, goal.y_m), next_xy, acceptance_radius_m, limits
        )
        xy_speed = min(
            limits.cruise_m_s,
            guidance.max_speed_from_distance(
                limits.jerk_m_s3, limits.accel_m_s2, distance, arrival
            ),
        )
        speed = a.ground_speed_m_s
        turning = (
            speed > TURNING_MIN_SPEED_M_S
            and distance > acceptance_radius_m
            and (a.vx_m_s * dx + a.vy_m_s * dy) / (speed * distance) < TURNING_COS
        )
        if turning:
            xy_speed = min(xy_speed, self._speed_before_turn_m_s)
        else:
            self._speed_before_turn_m_s = xy_speed
        vx, vy, vz = guidance.line_velocity(dx, dy, dz, xy_speed, self.vertical_speed_to_stop(dz))
        heading = (
            goal.heading_rad
            if goal.heading_rad is not None
            else self.auto_heading(goal.x_m, goal.y_m)
        )
        return MotionCommand(vx, vy, vz, heading)

    def climb_rate_to(self, target_z_m: float) -> float:
        p, a = self._params, self._airframe
        return guidance.vertical_velocity(
            a.z_m,
            target_z_m,
            up_m_s=float(p.get("MPC_Z_V_AUTO_UP")),
            down_m_s=float(p.get("MPC_Z_V_AUTO_DN")),
            accel_m_s2=float(p.get("MPC_ACC_DOWN_MAX")),
            jerk_m_s3=float(p.get("MPC_JERK_AUTO")),
            traj_p_per_s=float(p.get("MPC_Z_TRAJ_P")),
        )

    def vertical_speed_to_stop(self, dz_m: float) -> float:
        """Vertical speed (m/s, unsigned) that still stops `dz_m` away (up positive), within
        PX4's auto climb or descent rate (PX4's braking rule with its vertical limits)."""
        p = self._params
        up = dz_m > 0
        return min(
            float(p.get("MPC_Z_V_AUTO_UP" if up else "MPC_Z_V_AUTO_DN")),
            guidance.max_speed_from_distance(
                float(p.get("MPC_JERK_AUTO")),
                float(p.get("MPC_ACC_UP_MAX" if up else "MPC_ACC_DOWN_MAX")),
                abs(dz_m),
            ),
        )

    def takeoff_command(self, now_s: float) -> MotionCommand:
        p, a = self._params, self._airframe
        start = self.takeoff_start_s if self.takeoff_start_s is not None else now_s
        since_start = now_s - start
        if since_start < 0.0:
            return MotionCommand(0.0, 0.0, 0.0, None)  # the motors are spooling up
        dz = self.takeoff_z_m - a.z_m
        tko_speed = float(p.get("MPC_TKO_SPEED"))
        ramp_s = float(p.get("MPC_TKO_RAMP_T"))
        low = a.z_m - self.home[2] < float(p.get("MPC_LAND_ALT1"))
        acc_up = float(p.get("MPC_ACC_UP_MAX"))
        if low and ramp_s > 0:
            acc_up = min(acc_up, tko_speed / ramp_s)
        if dz > 0:
            vz = min(
                tko_speed if low else float(p.get("MPC_Z_V_AUTO_UP")),
                guidance.max_speed_from_distance(float(p.get("MPC_JERK_AUTO")), acc_up, dz),
            )
            if not low:
                # Fitted to the recorded flight: high up, PX4 closes in on the takeoff
                # altitude more gently than its braking rule alone (60 m: the last 10 m
                # take ~6 s); low down (a mission's 10 m takeoff) it does not.
                vz = min(vz, dz * float(p.get("MPC_Z_TRAJ_P")))
        else:
            vz = -self.vertical_speed_to_stop(dz)
        if since_start < ramp_s:
            # The ramp: the climb-rate limit starts below zero (thrust builds up first).
            start_limit = -GRAVITY_M_S2 / max(float(p.get("MPC_Z_VEL_P_ACC")), 0.01)
            limit = start_limit + since_start / ramp_s * (tko_speed - start_limit)
            vz = min(vz, limit)
            if limit > 0.0 and dz > 0:
                vz = max(vz, 0.05)  # leave the ground even for a very low takeoff altitude
        vx, vy = guidance.horizontal_velocity(
            a.x_m, a.y_m, self.goal.x_m, self.goal.y_m, self.speed_limits()
        )
        if (
            abs(self.altitude_estimate_m(now_s) - self.takeoff_z_m) < float(p.get("NAV_MC_ALT_RAD"))
            and not a.on_ground
        ):
            self.takeoff_done = True
        return MotionCommand(vx, vy, vz, None, acc_up_m_s2=acc_up if low else None)

    def altitude_estimate_m(self, now_s: float) -> float:
        """The altitude as PX4's estimator has it during a takeoff: lagging the climb."""
        then_s, estimate = self._altitude_estimate
        dt = max(now_s - then_s, 0.0)
        estimate += (self._airframe.z_m - estimate) * min(1.0, dt / ALTITUDE_ESTIMATE_LAG_S)
        self._altitude_estimate = (now_s, estimate)
        return estimate

    def land_command(self, drift: bool = False) -> MotionCommand:
        """Descend on PX4's schedule; `drift` (no position estimate) skips the xy hold."""
        p, a = self._params, self._airframe
        rate = guidance.landing_descent_rate(
            a.z_m - self.home[2],
            float(p.get("MPC_Z_V_AUTO_DN")),
            float(p.get("MPC_LAND_SPEED")),
            float(p.get("MPC_LAND_CRWL")),
            float(p.get("MPC_LAND_ALT1")),
            float(p.get("MPC_LAND_ALT2")),
            float(p.get("MPC_LAND_ALT3")),
        )
        if drift:
            return MotionCommand(self.wind_xy[0], self.wind_xy[1], -rate, None)
        vx, vy = guidance.horizontal_velocity(
            a.x_m, a.y_m, self.land_xy[0], self.land_xy[1], self.speed_limits()
        )
        if math.hypot(a.x_m - self.land_xy[0], a.y_m - self.land_xy[1]) > 2.0:
            rate = 0.0  # reach the landing spot before descending
        return MotionCommand(vx, vy, -rate, None)

    def orbit_command(self) -> MotionCommand:
        a, orbit = self._airframe, self.orbit
        if orbit is None:
            return self.hold_command()
        rx, ry = a.x_m - orbit.center_x_m, a.y_m - orbit.center_y_m
        r = math.hypot(rx, ry)
        vz = self.climb_rate_to(orbit.z_m)
        to_center = heading_to(a.x_m, a.y_m, orbit.center_x_m, orbit.center_y_m)
        heading = to_center if orbit.yaw_behavior == 0 else None
        if r < 1e-3 or abs(r - orbit.radius_m) > ORBIT_CAPTURE_M:
            # Approach the nearest point of the circle first.
            ux, uy = (rx / r, ry / r) if r > 1e-3 else (0.0, 1.0)
            tx = orbit.center_x_m + ux * orbit.radius_m
            ty = orbit.center_y_m + uy * orbit.radius_m
            vx, vy = guidance.horizontal_velocity(a.x_m, a.y_m, tx, ty, self.speed_limits())
            return MotionCommand(vx, vy, vz, heading)
        limits = self.speed_limits()
        speed = min(abs(orbit.speed_m_s), limits.cruise_m_s)
        speed = min(speed, math.sqrt(limits.accel_m_s2 * orbit.radius_m))
        sign = 1.0 if orbit.speed_m_s >= 0 else -1.0
        tx, ty = sign * ry / r, -sign * rx / r
        # Lead the turn by the velocity lag so the circle does not drift outwards.
        radial = (
            -ORBIT_RADIAL_GAIN_PER_S * (r - orbit.radius_m) - speed * speed * VELOCITY_TAU_S / r
        )
        vx = tx * speed + radial * rx / r
        vy = ty * speed + radial * ry / r
        if heading is None and orbit.yaw_behavior == 3:
            heading = math.atan2(tx, ty)
        return MotionCommand(vx, vy, vz, heading)

    def auto_heading(self, target_x_m: float, target_y_m: float) -> float | None:
        """PX4's MPC_YAW_MODE 0: face the waypoint (or the ROI), keep heading close in."""
        a = self._airframe
        if self.roi is not None:
            return heading_to(a.x_m, a.y_m, *self.roi)
        if math.hypot(target_x_m - a.x_m, target_y_m - a.y_m) > HEADING_MIN_DISTANCE_M:
            return heading_to(a.x_m, a.y_m, target_x_m, target_y_m)
        return None
