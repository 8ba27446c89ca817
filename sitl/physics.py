"""The airframe: a point-mass multirotor that tracks a velocity command like PX4's controllers.

Frame: local east/north/up metres from home (x east, y north, z up = relative
altitude). The vehicle follows the commanded velocity with PX4's limits: a
jerk-limited horizontal acceleration (MPC_ACC_HOR, MPC_JERK_AUTO), vertical
acceleration limits (MPC_ACC_UP_MAX / MPC_ACC_DOWN_MAX) and a rate- and
acceleration-limited yaw (MPC_YAWRAUTO_MAX / MPC_YAWRAUTO_ACC).

One deliberate non-ideality: PX4 SIH's linear drag (SIH_KDV=0.3) makes the real
vehicle reach ~90 % of a commanded cruise speed quickly and then creep up to it over
several seconds while the velocity integrator winds up. `CREEP_*` reproduces that
measured curve (1,500 m goto at 20 m/s: 100 m at ~9 s, 1,000 m at ~55 s). Tilt
comes from the acceleration plus that drag, so attitude looks like a real airframe's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GRAVITY_M_S2 = 9.80665
DRAG_PER_S = 0.3  # SIH_KDV / mass: drag acceleration per m/s of airspeed
VELOCITY_TAU_S = 0.25  # velocity tracking time constant (unsaturated)
CREEP_KNEE = 0.88  # fraction of the commanded speed above which the creep starts
CREEP_TAU_S = 8.0  # time constant of the last ~12 % of a speed-up
HOVER_THRUST = 0.47  # normalised collective thrust in hover (VFR_HUD.throttle ~47 %)
YAW_P_PER_S = 2.0


@dataclass(frozen=True, slots=True)
class MotionLimits:
    """PX4's autonomous-mode limits in SI units."""

    acc_hor_m_s2: float
    jerk_m_s3: float
    acc_up_m_s2: float
    acc_down_m_s2: float
    yaw_rate_max_rad_s: float
    yaw_acc_max_rad_s2: float


@dataclass(frozen=True, slots=True)
class MotionCommand:
    """What the navigator asks for this step: a velocity (ENU) and optionally a heading."""

    vel_east_m_s: float
    vel_north_m_s: float
    vel_up_m_s: float
    heading_rad: float | None = None
    #: A lower climb acceleration limit for this step (PX4's takeoff ramp), if any.
    acc_up_m_s2: float | None = None


def wrap_pi(angle_rad: float) -> float:
    """Wrap to [-pi, pi).

    >>> round(wrap_pi(3 * math.pi / 2), 6) == round(-math.pi / 2, 6)
    True
    """
    return (angle_rad + math.pi) % (2.0 * math.pi) - math.pi


class Multirotor:
    """Kinematic state of the airframe, advanced by `step`."""

    def __init__(self, heading_rad: float = 0.0) -> None:
        self.x_m = 0.0
        self.y_m = 0.0
        self.z_m = 0.0
        self.vx_m_s = 0.0
        self.vy_m_s = 0.0
        self.vz_m_s = 0.0
        self.ax_m_s2 = 0.0
        self.ay_m_s2 = 0.0
        self.az_m_s2 = 0.0
        self.heading_rad = heading_rad
        self.yaw_rate_rad_s = 0.0
        self.roll_rad = 0.0
        self.pitch_rad = 0.0
        self.roll_rate_rad_s = 0.0
        self.pitch_rate_rad_s = 0.0
        self.thrust = 0.0
        self.on_ground = True

    @property
    def ground_speed_m_s(self) -> float:
        return math.hypot(self.vx_m_s, self.vy_m_s)

    def place(self, x_m: float, y_m: float, z_m: float) -> None:
        """Teleport (used at boot); zeroes the motion."""
        self.x_m, self.y_m, self.z_m = x_m, y_m, z_m
        self.vx_m_s = self.vy_m_s = self.vz_m_s = 0.0
        self.ax_m_s2 = self.ay_m_s2 = self.az_m_s2 = 0.0
        self.on_ground = z_m <= 0.0

    def step(
        self,
        dt_s: float,
        cmd: MotionCommand,
        limits: MotionLimits,
        motors_on: bool,
        wind_east_m_s: float = 0.0,
        wind_north_m_s: float = 0.0,
    ) -> None:
        if not motors_on:
            self._fall(dt_s)
        elif self.on_ground and cmd.vel_up_m_s <= 0.0:
            self._rest(dt_s, spinning=True)
        else:
            self.on_ground = False
            self._track_horizontal(dt_s, cmd, limits)
            self._track_vertical(dt_s, cmd, limits)
            self._integrate(dt_s)
            self._touch_ground()
            self._track_heading(dt_s, cmd, limits)
        self._attitude(dt_s, wind_east_m_s, wind_north_m_s, motors_on)

    def _rest(self, dt_s: float, spinning: bool) -> None:
        self.vx_m_s = self.vy_m_s = self.vz_m_s = 0.0
        self.ax_m_s2 = self.ay_m_s2 = self.az_m_s2 = 0.0
        self.yaw_rate_rad_s = 0.0
        self.z_m = 0.0
        self.on_ground = True
        self.thrust = 0.05 if spinning else 0.0

    def _fall(self, dt_s: float) -> None:
        if self.on_ground or self.z_m <= 0.0:
            self._rest(dt_s, spinning=False)
            return
        self.ax_m_s2 = -DRAG_PER_S * self.vx_m_s
        self.ay_m_s2 = -DRAG_PER_S * self.vy_m_s
        self.az_m_s2 = -GRAVITY_M_S2 - DRAG_PER_S * self.vz_m_s
        self._integrate(dt_s)
        if self.z_m <= 0.0:
            self._rest(dt_s, spinning=False)

    def _track_horizontal(self, dt_s: float, cmd: MotionCommand, limits: MotionLimits) -> None:
        dvx = cmd.vel_east_m_s - self.vx_m_s
        dvy = cmd.vel_north_m_s - self.vy_m_s
        ax_des = dvx / VELOCITY_TAU_S
        ay_des = dvy / VELOCITY_TAU_S
        a_des = math.hypot(ax_des, ay_des)
        a_max = limits.acc_hor_m_s2
        speed = self.ground_speed_m_s
        speed_des = math.hypot(cmd.vel_east_m_s, cmd.vel_north_m_s)
        if speed_des > speed > CREEP_KNEE * speed_des:
            aligned = self.vx_m_s * cmd.vel_east_m_s + self.vy_m_s * cmd.vel_north_m_s
            if aligned > 0.98 * speed * speed_des:
                a_max = min(a_max, (speed_des - speed) / CREEP_TAU_S + 0.02)
        if a_des > a_max:
            ax_des *= a_max / a_des
            ay_des *= a_max / a_des
        dax = ax_des - self.ax_m_s2
        day = ay_des - self.ay_m_s2
        da = math.hypot(dax, day)
        da_max = limits.jerk_m_s3 * dt_s
        if da > da_max:
            dax *= da_max / da
            day *= da_max / da
        self.ax_m_s2 += dax
        self.ay_m_s2 += day

    def _track_vertical(self, dt_s: float, cmd: MotionCommand, limits: MotionLimits) -> None:
        az_des = (cmd.vel_up_m_s - self.vz_m_s) / VELOCITY_TAU_S
        acc_up = limits.acc_up_m_s2
        if cmd.acc_up_m_s2 is not None:
            acc_up = min(acc_up, cmd.acc_up_m_s2)
        az_des = max(-limits.acc_down_m_s2, min(acc_up, az_des))
        da_max = limits.jerk_m_s3 * dt_s
        self.az_m_s2 += max(-da_max, min(da_max, az_des - self.az_m_s2))

    def _touch_ground(self) -> None:
        if self.z_m <= 0.0 and self.vz_m_s <= 0.0:
            self.z_m = 0.0
            self.vz_m_s = 0.0
            self.az_m_s2 = 0.0
            self.vx_m_s = self.vy_m_s = 0.0
            self.ax_m_s2 = self.ay_m_s2 = 0.0
            self.on_ground = True

    def _integrate(self, dt_s: float) -> None:
        self.vx_m_s += self.ax_m_s2 * dt_s
        self.vy_m_s += self.ay_m_s2 * dt_s
        self.vz_m_s += self.az_m_s2 * dt_s
        self.x_m += self.vx_m_s * dt_s
        self.y_m += self.vy_m_s * dt_s
        self.z_m += self.vz_m_s * dt_s

    def _track_heading(self, dt_s: float, cmd: MotionCommand, limits: MotionLimits) -> None:
        rate_des = 0.0
        if cmd.heading_rad is not None:
            error = wrap_pi(cmd.heading_rad - self.heading_rad)
            rate_des = max(
                -limits.yaw_rate_max_rad_s, min(limits.yaw_rate_max_rad_s, error * YAW_P_PER_S)
            )
            # Brake in time so the heading does not overshoot at the rate limit.
            brake = math.sqrt(2.0 * limits.yaw_acc_max_rad_s2 * abs(error))
            rate_des = max(-brake, min(brake, rate_des))
        dr_max = limits.yaw_acc_max_rad_s2 * dt_s
        self.yaw_rate_rad_s += max(-dr_max, min(dr_max, rate_des - self.yaw_rate_rad_s))
        self.heading_rad = wrap_pi(self.heading_rad + self.yaw_rate_rad_s * dt_s)

    def _attitude(
        self, dt_s: float, wind_east_m_s: float, wind_north_m_s: float, motors_on: bool
    ) -> None:
        if self.on_ground:
            roll, pitch = 0.0, 0.0
            if motors_on:
                self.thrust = max(self.thrust, 0.05)
        else:
            # The thrust vector supplies the acceleration and cancels the drag.
            fx = self.ax_m_s2 + DRAG_PER_S * (self.vx_m_s - wind_east_m_s)
            fy = self.ay_m_s2 + DRAG_PER_S * (self.vy_m_s - wind_north_m_s)
            fz = GRAVITY_M_S2 + self.az_m_s2
            sin_h, cos_h = math.sin(self.heading_rad), math.cos(self.heading_rad)
            forward = fx * sin_h + fy * cos_h
            right = fx * cos_h - fy * sin_h
            pitch = -math.atan2(forward, fz)
            roll = math.atan2(right * math.cos(pitch), fz)
            if motors_on:
                self.thrust = min(1.0, HOVER_THRUST * math.hypot(fx, fy, fz) / GRAVITY_M_S2)
            else:
                self.thrust = 0.0
        self.roll_rate_rad_s = (roll - self.roll_rad) / dt_s
        self.pitch_rate_rad_s = (pitch - self.pitch_rad) / dt_s
        self.roll_rad, self.pitch_rad = roll, pitch
