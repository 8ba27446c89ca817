"""Arming, flight-mode changes and failsafe reactions, with PX4's rules and messages.

- Arming is refused (TEMPORARILY_REJECTED plus "Preflight Fail: ..." STATUSTEXT) until
  the estimator is ready (`SimConfig.armable_after_s`), without GPS, on a critical
  battery, outside the geofence, or when a test says so. Arming in MISSION mode
  switches to HOLD, as PX4 does.
- An armed vehicle that does not take off disarms after COM_DISARM_PRELAND; after a
  landing it disarms COM_DISARM_LAND after "Landing detected".
- Modes that need a position estimate are refused without one; MISSION is refused
  without a valid mission.
"""

from __future__ import annotations

import math

from pymavlink.dialects.v20 import common as mavlink

from sitl.failsafe import Action, Failsafe, FailsafeMonitor
from sitl.geofence import Geofence
from sitl.land_detector import LandDetector
from sitl.link import Outbox
from sitl.mission_runner import MissionRunner, MissionState
from sitl.modes import FlightMode, LandedState
from sitl.navigator import Goal, Navigator, Orbit
from sitl.params import ParamTable
from sitl.physics import MotionCommand, Multirotor
from sitl.rtl import ReturnToLaunch

ACCEPTED = mavlink.MAV_RESULT_ACCEPTED
REJECTED = mavlink.MAV_RESULT_TEMPORARILY_REJECTED
DENIED = mavlink.MAV_RESULT_DENIED

MODE_NAMES = {
    FlightMode.HOLD: "Hold",
    FlightMode.MISSION: "Mission",
    FlightMode.RTL: "Return",
    FlightMode.LAND: "Land",
    FlightMode.TAKEOFF: "Takeoff",
    FlightMode.ORBIT: "Orbit",
    FlightMode.OFFBOARD: "Offboard",
    FlightMode.POSCTL: "Position",
    FlightMode.ALTCTL: "Altitude",
    FlightMode.MANUAL: "Manual",
}


class Commander:
    """The vehicle's state machine: armed, mode, failsafes. Called once per step."""

    def __init__(
        self,
        params: ParamTable,
        airframe: Multirotor,
        navigator: Navigator,
        rtl: ReturnToLaunch,
        mission: MissionRunner,
        geofence: Geofence,
        land_detector: LandDetector,
        failsafe: FailsafeMonitor,
        outbox: Outbox,
        armable_after_s: float,
        health_ok_after_s: float,
    ) -> None:
        self._params = params
        self._airframe = airframe
        self._nav = navigator
        self._rtl = rtl
        self._mission = mission
        self._fence = geofence
        self._land = land_detector
        self.failsafe = failsafe
        self._out = outbox
        self.armable_after_s = armable_after_s
        self.health_ok_after_s = health_ok_after_s
        self.now_s = 0.0
        self.armed = False
        self.mode = FlightMode.HOLD
        self.terminated = False
        self.armed_at_s: float | None = None
        self.landed_at_s: float | None = None
        self.gps_ok = True
        self.position_valid = True
        self.gps_lost_at_s: float | None = None
        self.refuse_arming_reason: str | None = None
        self.battery_critical = False
        self.mission_blocked_until_s = 0.0
        self.fence_breach: str | None = None
        #: Holding because of a fence breach: like PX4's navigator, the breach stays set
        #: (never cleared, never raised again) until something else takes the vehicle
        #: out of that hold, e.g. the pilot's return.
        self._held_at_fence = False

    # status

    @property
    def landed(self) -> bool:
        return self._land.landed

    @property
    def flying(self) -> bool:
        return self.armed and not self._land.landed

    @property
    def landed_state(self) -> LandedState:
        if self._land.landed:
            return LandedState.ON_GROUND
        kind = self.setpoint_type
        if kind == "takeoff":
            return LandedState.TAKEOFF
        if kind == "land":
            return LandedState.LANDING
        return LandedState.IN_AIR

    @property
    def setpoint_type(self) -> str:
        if self.mode is FlightMode.TAKEOFF:
            return "takeoff"
        if self.mode is FlightMode.LAND or (self.mode is FlightMode.RTL and self._rtl.landing):
            return "land"
        if self.mode is FlightMode.MISSION:
            return self._mission.setpoint_type
        return "position"

    @property
    def climb_since_s(self) -> float | None:
        """When a takeoff that is still under way was started (for the land detector)."""
        if self.armed and self.setpoint_type == "takeoff":
            return self._nav.takeoff_start_s
        return None

    @property
    def estimator_ready(self) -> bool:
        return self.now_s >= self.health_ok_after_s

    # arming

    def preflight_failure(self) -> str | None:
        """Why PX4 would refuse to arm now, or None."""
        if self.now_s < self.health_ok_after_s:
            return "heading estimate not stable"
        if self.now_s < self.armable_after_s:
            return "horizontal position estimate not yet valid"
        if self.refuse_arming_reason:
            return self.refuse_arming_reason
        if not self.gps_ok or not self.position_valid:
            return "GPS fix too low"
        if self.battery_critical:
            return "battery critically low"
        a = self._airframe
        if self._violation(a.x_m, a.y_m, a.z_m) is not None:
            return "vehicle outside geofence"
        return None

    def arm(self, force: bool = False) -> int:
        if self.terminated:
            return DENIED
        if self.armed:
            return ACCEPTED
        reason = None if force else self.preflight_failure()
        if reason is not None:
            self._out.send_text(mavlink.MAV_SEVERITY_CRITICAL, f"Preflight Fail: {reason}")
            return REJECTED
        self.armed = True
        self.armed_at_s = self.now_s
        self._nav.armed_at_s = self.now_s
        self._out.send_text(mavlink.MAV_SEVERITY_INFO, "Armed by external command\t")
        if self._land.landed:
            a = self._airframe
            self._nav.home = (a.x_m, a.y_m, a.z_m)
        if self.mode is FlightMode.MISSION:
            self._switch(FlightMode.HOLD)
        elif self.mode is FlightMode.TAKEOFF and self._land.landed:
            self._begin_takeoff(self._nav.takeoff_z_m)
        return ACCEPTED

    def disarm(self, force: bool = False, reason: str = "external command") -> int:
        if not self.armed:
            return ACCEPTED
        if not self._land.landed and not force:
            self._out.send_text(mavlink.MAV_SEVERITY_CRITICAL, "Disarming denied: not landed\t")
            return REJECTED
        self.armed = False
        self.armed_at_s = None
        self._nav.armed_at_s = None
        self.landed_at_s = None
        self._out.send_text(mavlink.MAV_SEVERITY_INFO, f"Disarmed by {reason}\t")
        if self.mode in (FlightMode.LAND, FlightMode.RTL, FlightMode.TAKEOFF, FlightMode.MISSION):
            self._switch(FlightMode.HOLD)
        if self._land.landed:
            self._home_follows_a_landed_vehicle()
        return ACCEPTED

    def _home_follows_a_landed_vehicle(self) -> None:
        """Like PX4 (COM_HOME_EN): on the ground and disarmed, home moves to the
        vehicle once it is more than 1 m (1.5 m vertically) away, so a drone that
        landed away from its dock reports that spot as home."""
        a, (hx, hy, hz) = self._airframe, self._nav.home
        if math.hypot(a.x_m - hx, a.y_m - hy) > 1.0 or abs(a.z_m - hz) > 1.5:
            self._nav.home = (a.x_m, a.y_m, a.z_m)

    # modes

    def request_mode(self, mode: FlightMode) -> int:
        """A ground station's DO_SET_MODE."""
        if self.terminated:
            return DENIED
        if mode is self.mode:
            return ACCEPTED
        refusal = self._mode_refusal(mode)
        if refusal is not None:
            name = MODE_NAMES.get(mode, mode.name.title())
            self._out.send_text(
                mavlink.MAV_SEVERITY_CRITICAL, f"Switching to {name} is currently not possible\t"
            )
            if refusal:
                self._out.send_text(mavlink.MAV_SEVERITY_CRITICAL, f"{refusal}\t")
            return REJECTED
        self._switch(mode)
        return ACCEPTED

    def _mode_refusal(self, mode: FlightMode) -> str | None:
        if mode.needs_global_position and not self.position_valid:
            return "No valid global position"
        if mode is FlightMode.OFFBOARD:
            return "No offboard setpoints"
        if mode is FlightMode.MISSION:
            if not self._mission.items:
                return "Mission rejected: no mission"
            if self.now_s < self.mission_blocked_until_s:
                return ""
        if mode is FlightMode.ORBIT and not self.flying:
            return "Orbit requires the vehicle to be in air"
        return None

    def _switch(self, mode: FlightMode, keep_goal: bool = False) -> None:
        previous = self.mode
        self.mode = mode
        if previous is FlightMode.MISSION and mode is not FlightMode.MISSION:
            self._mission.pause()
        if mode is not previous:
            self._nav.speed_override_m_s = None  # PX4 drops DO_CHANGE_SPEED on a mode change
        a = self._airframe
        if keep_goal:
            pass  # a finished behaviour already set where to hold
        elif mode in (FlightMode.HOLD, FlightMode.POSCTL, FlightMode.ALTCTL, FlightMode.MANUAL):
            self._nav.hold_here()
        elif mode is FlightMode.LAND:
            self._nav.start_land()
        elif mode is FlightMode.RTL:
            if not self._land.landed:
                self._rtl.start()
        elif mode is FlightMode.MISSION:
            self._mission.start()
        elif mode is FlightMode.TAKEOFF:
            if self.armed and self._land.landed:
                self._begin_takeoff(self._nav.takeoff_z_m)
            elif not self._land.landed:
                # Already flying: no spool-up or ramp, just climb (or descend) to the altitude.
                self._nav.start_takeoff(self.now_s, self._nav.takeoff_z_m, from_ground=False)
                self._nav.goal.x_m, self._nav.goal.y_m = a.x_m, a.y_m

    def _begin_takeoff(self, target_z_m: float) -> None:
        self._nav.start_takeoff(self.now_s, target_z_m)

    # commands the command handler forwards

    def takeoff(self, target_z_m: float) -> int:
        if not self.position_valid:
            return REJECTED
        self._nav.takeoff_z_m = target_z_m
        if self.mode is FlightMode.TAKEOFF:
            self._switch(FlightMode.TAKEOFF)
            return ACCEPTED
        return self.request_mode(FlightMode.TAKEOFF)

    def land(self) -> int:
        result = self.request_mode(FlightMode.LAND)
        if result == ACCEPTED:
            self._out.send_text(mavlink.MAV_SEVERITY_INFO, "Landing at current position\t")
        return result

    def return_to_launch(self) -> int:
        result = self.request_mode(FlightMode.RTL)
        if result != ACCEPTED:
            self._out.send_text(mavlink.MAV_SEVERITY_CRITICAL, "Return to launch denied\t")
        return result

    def reposition(self, goal: Goal, change_mode: bool) -> int:
        if not self.position_valid:
            return REJECTED
        if not self.armed or self._land.landed:
            return ACCEPTED  # PX4 only applies a reposition to a flying vehicle
        if self._violation(goal.x_m, goal.y_m, goal.z_m) is not None:
            self._out.send_text(mavlink.MAV_SEVERITY_CRITICAL, "Reposition is outside geofence\t")
            return ACCEPTED
        if change_mode and self.mode is not FlightMode.HOLD:
            result = self.request_mode(FlightMode.HOLD)
            if result != ACCEPTED:
                return result
        self._nav.reposition(goal)
        return ACCEPTED

    def orbit(self, orbit: Orbit) -> int:
        if not self.flying or not self.position_valid:
            self._out.send_text(mavlink.MAV_SEVERITY_CRITICAL, "Orbit command rejected\t")
            return REJECTED
        self._nav.start_orbit(orbit)
        if self.mode is not FlightMode.ORBIT:
            self._switch(FlightMode.ORBIT)
        return ACCEPTED

    def mission_start(self, first_seq: int) -> int:
        if not self._mission.items:
            self._out.send_text(
                mavlink.MAV_SEVERITY_CRITICAL, "Mission start denied! No valid mission\t"
            )
            return DENIED
        if 0 <= first_seq < len(self._mission.items):
            self._mission.set_current(first_seq)
        result = self.request_mode(FlightMode.MISSION)
        if result == ACCEPTED and not self.armed:
            mode = self.mode
            if self.arm() != ACCEPTED:
                return REJECTED
            self._switch(mode)
        return result

    def terminate(self) -> None:
        self.terminated = True
        self.armed = False
        self._out.send_text(mavlink.MAV_SEVERITY_EMERGENCY, "Flight termination active\t")

    # per step

    def motion_command(self) -> MotionCommand:
        now = self.now_s
        if not self.position_valid and self.flying:
            return self._nav.land_command(drift=True)
        mode = self.mode
        mission_flying = mode is FlightMode.MISSION and self._mission.state is MissionState.ACTIVE
        if self._land.landed and mode is not FlightMode.TAKEOFF and not mission_flying:
            return MotionCommand(0.0, 0.0, 0.0)  # idle on the ground until told to take off
        if mode is FlightMode.TAKEOFF:
            if not self.armed:
                return MotionCommand(0.0, 0.0, 0.0)
            return self._nav.takeoff_command(now)
        if mode is FlightMode.LAND:
            return self._nav.land_command()
        if mode is FlightMode.RTL:
            return self._rtl.command(now)
        if mode is FlightMode.MISSION:
            return self._mission.command(now) if self.armed else MotionCommand(0.0, 0.0, 0.0)
        if mode is FlightMode.ORBIT:
            return self._nav.orbit_command()
        return self._nav.hold_command()

    def after_motion(self, landing_detected: bool) -> None:
        """Mode follow-ups once the airframe has moved: takeoff done, landings, disarming."""
        now, nav = self.now_s, self._nav
        if self.mode is FlightMode.TAKEOFF and nav.takeoff_done:
            nav.takeoff_done = False
            self._switch(FlightMode.HOLD)
            self._nav.hold_at(self._airframe.x_m, self._airframe.y_m, nav.takeoff_z_m)
        if nav.requested_mode is not None:
            mode, nav.requested_mode = nav.requested_mode, None
            self._switch(mode, keep_goal=mode is FlightMode.HOLD)
        if landing_detected:
            self.landed_at_s = now
            self._mission.landed()
        if self.armed and self._land.landed:
            self._auto_disarm(now)

    def _auto_disarm(self, now: float) -> None:
        if self.landed_at_s is not None:
            if now - self.landed_at_s >= float(self._params.get("COM_DISARM_LAND")):
                self.disarm(reason="landing")
            return
        if self.climb_since_s is not None:
            return  # spooling up for a takeoff
        taking_off = self.mode is FlightMode.MISSION and self._mission.items
        armed_for = now - (self.armed_at_s if self.armed_at_s is not None else now)
        limit = float(self._params.get("COM_DISARM_PRELAND"))
        if not taking_off and limit > 0 and armed_for >= limit:
            self.disarm(reason="auto preflight disarming")

    def apply_failsafe(self, failsafe: Failsafe) -> None:
        action = failsafe.action
        if action is Action.TERMINATE:
            self.terminate()
        elif action is Action.DISARM:
            self.disarm(force=True, reason="failsafe")
        elif action is Action.HOLD:
            self._switch(FlightMode.HOLD)
        elif action is Action.RTL and self.position_valid:
            self._switch(FlightMode.RTL)
            self._nav.emergency_brake = True
        elif action in (Action.LAND, Action.DESCEND, Action.RTL):
            self._switch(FlightMode.LAND)
            self._nav.emergency_brake = True

    # geofence

    def _violation(self, x_m: float, y_m: float, z_m: float) -> str | None:
        p, home = self._params, self._nav.home
        return self._fence.violation(
            x_m,
            y_m,
            z_m - home[2],
            (home[0], home[1]),
            float(p.get("GF_MAX_HOR_DIST")),
            float(p.get("GF_MAX_VER_DIST")),
        )

    def check_fence(self, brake_distance_m: float) -> None:
        """Detect a breach (or, with GF_PREDICT, the braking point's) and react."""
        a = self._airframe
        if not self.flying or int(self._params.get("GF_ACTION")) == 0:
            self.fence_breach = None
            return
        if self._held_at_fence and self.mode is FlightMode.HOLD:
            return
        self._held_at_fence = False
        x, y = a.x_m, a.y_m
        predict = int(self._params.get("GF_PREDICT")) == 1
        speed = a.ground_speed_m_s
        if predict and speed > 0.5:
            x += a.vx_m_s / speed * brake_distance_m
            y += a.vy_m_s / speed * brake_distance_m
        what = self._violation(x, y, a.z_m)
        if what is None:
            self.fence_breach = None
            return
        if self.fence_breach is not None:
            return
        self.fence_breach = what
        action = self.failsafe.fence_breached(self.now_s, what)
        if action is Action.HOLD or (action is Action.RTL and predict):
            # Like PX4's navigator: hold where the breach was seen (just past the
            # boundary), or with GF_PREDICT at the predicted stop point, a metre short.
            stop = (a.x_m, a.y_m, a.z_m)
            if predict and speed > 0.5:  # the predicted stop point, a metre short of it
                back = min(1.0, brake_distance_m)
                stop = (x - a.vx_m_s / speed * back, y - a.vy_m_s / speed * back, a.z_m)
            self._switch(FlightMode.HOLD)
            self._nav.hold_at(*stop, emergency=True)
            self._held_at_fence = True

    def update_position_validity(self, noaid_timeout_s: float) -> None:
        """After the GPS is lost, the estimate stays usable for EKF2_NOAID_TOUT."""
        if self.gps_ok:
            self.gps_lost_at_s = None
            if not self.position_valid:
                self.position_valid = True
                self._out.send_text(mavlink.MAV_SEVERITY_INFO, "Global position regained\t")
            return
        if self.gps_lost_at_s is None:
            self.gps_lost_at_s = self.now_s
            self._out.send_text(mavlink.MAV_SEVERITY_CRITICAL, "GPS signal lost\t")
        if self.position_valid and self.now_s - self.gps_lost_at_s >= noaid_timeout_s:
            self.position_valid = False
            self.failsafe.position_lost(self.now_s, self.flying)
