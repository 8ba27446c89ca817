"""What the vehicle does in each flight mode, as a velocity command each physics step.

Mirrors PX4's navigator and flight tasks closely enough for MAVSDK and for timing:
- HOLD (AUTO_LOITER): stop at the braking point, or fly a DO_REPOSITION goto and
  stay there (PX4 keeps the mode HOLD during a goto).
- TAKEOFF: spool up, ramp the climb rate (MPC_TKO_RAMP_T), climb at MPC_TKO_SPEED
  below MPC_LAND_ALT1 then MPC_Z_V_AUTO_UP, then HOLD at the takeoff altitude.
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
from sitl.physics import VELOCITY_TAU_S, MotionCommand, MotionLimits, Multirotor

# Fitted to PX4 SITL: arm -> 0.5 m up ~4 s (spool-up, then the takeoff ramp).
TAKEOFF_LIFTOFF_DELAY_S = 3.0
HEADING_MIN_DISTANCE_M = 2.0
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
        self.takeoff_start_s: float | None = None
        self.land_xy = (0.0, 0.0)
        self.orbit: Orbit | None = None
        self.roi: tuple[float, float] | None = None
        self.speed_override_m_s: float | None = None
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

    def start_takeoff(self, now_s: float, target_z_m: float) -> None:
        self.takeoff_z_m = target_z_m
        self.takeoff_start_s = now_s
        self.takeoff_done = False
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

    def takeoff_command(self, now_s: float) -> MotionCommand:
        p, a = self._params, self._airframe
        start = self.takeoff_start_s if self.takeoff_start_s is not None else now_s
        since_liftoff = now_s - start - TAKEOFF_LIFTOFF_DELAY_S
        if since_liftoff < 0.0:
            return MotionCommand(0.0, 0.0, 0.0, None)
        rel_alt = a.z_m - self.home[2]
        climb_max = (
            float(p.get("MPC_TKO_SPEED"))
            if rel_alt < float(p.get("MPC_LAND_ALT1"))
            else float(p.get("MPC_Z_V_AUTO_UP"))
        )
        ramp_s = max(float(p.get("MPC_TKO_RAMP_T")) * 2.0 / 3.0, 1e-3)
        climb_max *= min(1.0, since_liftoff / ramp_s)
        vz = min(self.climb_rate_to(self.takeoff_z_m), climb_max)
        if since_liftoff < ramp_s:
            vz = max(vz, 0.05)  # leave the ground even for a very low takeoff altitude
        vx, vy = guidance.horizontal_velocity(
            a.x_m, a.y_m, self.goal.x_m, self.goal.y_m, self.speed_limits()
        )
        if abs(a.z_m - self.takeoff_z_m) < float(p.get("NAV_MC_ALT_RAD")) and not a.on_ground:
            self.takeoff_done = True
        return MotionCommand(vx, vy, vz, None)

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
