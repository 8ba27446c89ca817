"""MISSION mode: fly the uploaded items one after another as PX4's navigator does.

Position items (TAKEOFF, WAYPOINT, LOITER_TIME, LOITER_UNLIM, LAND) are reached
within their acceptance radius (param2, else NAV_ACC_RAD) and NAV_MC_ALT_RAD;
intermediate waypoints are passed at PX4's cornering speed when the vehicle is at
the waypoint's altitude and the next leg keeps it, otherwise the vehicle stops
there. DO_CHANGE_SPEED, DO_SET_ROI_LOCATION/NONE and DO_JUMP act at once;
RETURN_TO_LAUNCH hands over to RTL. Each item reached is reported with
MISSION_ITEM_REACHED and the current one with MISSION_CURRENT, which is what
MAVSDK's mission progress follows.
"""

from __future__ import annotations

import enum
import math

from pymavlink.dialects.v20 import common as mavlink

from missions.geo import LocalFrame
from sitl.link import Outbox
from sitl.mission_items import (
    DO_CHANGE_SPEED,
    DO_JUMP,
    DO_SET_ROI_LOCATION,
    DO_SET_ROI_NONE,
    FENCE,
    MISSION,
    NAV_LAND,
    NAV_LOITER_TIME,
    NAV_LOITER_UNLIM,
    NAV_POSITION_COMMANDS,
    NAV_RETURN_TO_LAUNCH,
    NAV_TAKEOFF,
    NAV_WAYPOINT,
    RALLY,
    MissionItem,
)
from sitl.mission_transfer import MissionStore
from sitl.modes import FlightMode
from sitl.navigator import Goal, Navigator
from sitl.params import ParamTable
from sitl.physics import MotionCommand, Multirotor
from sitl.wire import MISSION_CURRENT

Position = tuple[float, float, float]
# MISSION_CURRENT.mission_mode (not in pymavlink 2.4.50's enums).
MISSION_MODE_MISSION = 1
MISSION_MODE_SUSPENDED = 2


class MissionState(enum.IntEnum):
    """MISSION_CURRENT.mission_state."""

    NO_MISSION = mavlink.MISSION_STATE_NO_MISSION
    NOT_STARTED = mavlink.MISSION_STATE_NOT_STARTED
    ACTIVE = mavlink.MISSION_STATE_ACTIVE
    PAUSED = mavlink.MISSION_STATE_PAUSED
    COMPLETE = mavlink.MISSION_STATE_COMPLETE


class MissionRunner:
    """Executes the mission list; the commander calls `command` each step in MISSION mode."""

    def __init__(
        self,
        params: ParamTable,
        airframe: Multirotor,
        navigator: Navigator,
        outbox: Outbox,
        frame: LocalFrame,
        origin_alt_amsl_m: float,
        store: MissionStore,
    ) -> None:
        self._store = store
        self._params = params
        self._airframe = airframe
        self._nav = navigator
        self._out = outbox
        self._frame = frame
        self._origin_alt_amsl_m = origin_alt_amsl_m
        self.items: tuple[MissionItem, ...] = ()
        self.current_seq = 0
        self.state = MissionState.NO_MISSION
        self.setpoint_type = "position"
        self._jumps_done: dict[int, int] = {}
        self._item_started = False
        self._arrived_at_s: float | None = None
        self._takeoff_implicit = False

    # list management

    def load(self, items: tuple[MissionItem, ...]) -> None:
        """A new mission list. Like PX4, it starts at the item the upload marked current
        (else the first); a mission under way goes on at once with the new items."""
        self.items = items
        self.current_seq = next((i for i, item in enumerate(items) if item.current), 0)
        if not items:
            self.state = MissionState.NO_MISSION
        elif self.state is not MissionState.ACTIVE:
            self.state = MissionState.NOT_STARTED
        self._jumps_done.clear()
        self._item_started = False
        self._send_current()

    def set_current(self, seq: int) -> bool:
        if not 0 <= seq < len(self.items):
            return False
        self.current_seq = seq
        self._item_started = False
        if self.state is MissionState.COMPLETE:
            self.state = MissionState.PAUSED
        self._send_current()
        return True

    def position_of(self, item: MissionItem) -> Position | None:
        """The item's target in local metres (z from the EKF origin), None without one."""
        if item.command not in NAV_POSITION_COMMANDS or not item.has_position:
            return None
        x, y = self._frame.lonlat_to_xy(item.longitude_deg, item.latitude_deg)
        rel = item.relative_altitude_m(self._origin_alt_amsl_m)
        z = self._airframe.z_m if rel is None else rel + self._nav.home[2]
        return x, y, z

    # execution

    def start(self) -> None:
        """Entering MISSION mode: resume at the current item."""
        if self.state in (MissionState.NOT_STARTED, MissionState.PAUSED):
            self.state = MissionState.ACTIVE
        self._item_started = False
        self._send_current()

    def pause(self) -> None:
        if self.state is MissionState.ACTIVE:
            self.state = MissionState.PAUSED

    def command(self, now_s: float) -> MotionCommand:
        self.setpoint_type = "position"
        if self.state is not MissionState.ACTIVE:
            return self._nav.hold_command()
        for _ in range(len(self.items) + 1):  # run the DO items up to the next NAV item
            if self.current_seq >= len(self.items):
                self._finish()
                return self._nav.hold_command()
            item = self.items[self.current_seq]
            if item.command in NAV_POSITION_COMMANDS:
                break
            if not self._run_do_item(item):
                return self._nav.hold_command()
        item = self.items[self.current_seq]
        a = self._airframe
        on_ground_item = item.command in (NAV_TAKEOFF, NAV_LAND)
        if a.on_ground and not on_ground_item and not self._takeoff_implicit:
            # PX4 inserts a takeoff when a mission starts on the ground without one.
            self._takeoff_implicit = True
            self._nav.start_takeoff(
                now_s, self._nav.home[2] + float(self._params.get("MIS_TAKEOFF_ALT"))
            )
        if self._takeoff_implicit:
            self.setpoint_type = "takeoff"
            cmd = self._nav.takeoff_command(now_s)
            if self._nav.takeoff_done:
                self._takeoff_implicit = False
            return cmd
        if not self._item_started:
            self._begin(item, now_s)
        return self._fly(item, now_s)

    def _begin(self, item: MissionItem, now_s: float) -> None:
        self._item_started = True
        self._arrived_at_s = None
        a = self._airframe
        target = self.position_of(item) or (a.x_m, a.y_m, a.z_m)
        if item.command == NAV_TAKEOFF:
            rel = item.relative_altitude_m(self._origin_alt_amsl_m)
            if rel is None:
                rel = float(self._params.get("MIS_TAKEOFF_ALT"))
            z = rel + self._nav.home[2]
            self._nav.start_takeoff(
                now_s, z if a.on_ground else max(z, a.z_m), from_ground=a.on_ground
            )
            self._nav.goal.x_m, self._nav.goal.y_m = a.x_m, a.y_m
        elif item.command == NAV_LAND:
            self._nav.hold_at(target[0], target[1], a.z_m)
            self._nav.land_xy = (target[0], target[1])
        else:
            heading = math.radians(item.param4) if math.isfinite(item.param4) else None
            self._nav.reposition(Goal(*target, heading_rad=heading))

    def _fly(self, item: MissionItem, now_s: float) -> MotionCommand:
        a, nav, p = self._airframe, self._nav, self._params
        if item.command == NAV_TAKEOFF:
            self.setpoint_type = "takeoff"
            cmd = nav.takeoff_command(now_s)
            if nav.takeoff_done or (
                not a.on_ground and nav.altitude_estimate_m(now_s) >= nav.takeoff_z_m
            ):
                self._reached(now_s)
            return cmd
        if item.command == NAV_LAND:
            self.setpoint_type = "land"
            return nav.land_command()
        goal = nav.goal
        radius = (
            item.param2
            if item.command == NAV_WAYPOINT and item.param2 > 0
            else float(p.get("NAV_ACC_RAD"))
        )
        distance = math.hypot(goal.x_m - a.x_m, goal.y_m - a.y_m)
        alt_ok = abs(goal.z_m - a.z_m) < float(p.get("NAV_MC_ALT_RAD"))
        if self._arrived_at_s is None and distance < radius and alt_ok:
            self._arrived_at_s = now_s
            if item.command == NAV_LOITER_UNLIM:
                self._send_reached(self.current_seq)
        if self._arrived_at_s is not None:
            hold_s = item.param1 if item.command in (NAV_WAYPOINT, NAV_LOITER_TIME) else 0.0
            if item.command == NAV_LOITER_UNLIM:
                return nav.hold_command()
            if now_s - self._arrived_at_s >= max(hold_s, 0.0):
                self._reached(now_s)
                return self.command(now_s)  # start the next item in this same step
            return nav.hold_command()
        nxt = self._next_position(self.current_seq + 1) if self._corners(item) else None
        return nav.leg_command(radius, None if nxt is None else nxt[:2])

    def _corners(self, item: MissionItem) -> bool:
        """PX4 flies on through a waypoint without a hold time; it stops at anything else."""
        return item.command == NAV_WAYPOINT and item.param1 <= 0

    def _next_position(self, seq: int) -> Position | None:
        for item in self.items[seq:]:
            if item.command == NAV_WAYPOINT or item.command in (NAV_LOITER_TIME, NAV_LOITER_UNLIM):
                return self.position_of(item)
            if item.command in NAV_POSITION_COMMANDS or item.command == NAV_RETURN_TO_LAUNCH:
                return None
            if item.command == DO_JUMP:
                return None
        return None

    def _run_do_item(self, item: MissionItem) -> bool:
        """Apply a DO item; False when it ends the mission's progress (RTL)."""
        if item.command == DO_CHANGE_SPEED:
            if item.param2 > 0:
                self._nav.speed_override_m_s = item.param2
        elif item.command == DO_SET_ROI_LOCATION:
            self._nav.roi = self._frame.lonlat_to_xy(item.longitude_deg, item.latitude_deg)
        elif item.command == DO_SET_ROI_NONE:
            self._nav.roi = None
        elif item.command == DO_JUMP:
            done = self._jumps_done.get(item.seq, 0)
            target = int(item.param1)
            if done < int(item.param2) and 0 <= target < len(self.items):
                self._jumps_done[item.seq] = done + 1
                self.current_seq = target
                self._item_started = False
                self._send_current()
                return True
        elif item.command == NAV_RETURN_TO_LAUNCH:
            self._send_reached(self.current_seq)
            self.state = MissionState.COMPLETE
            self._nav.requested_mode = FlightMode.RTL
            return False
        self._send_reached(self.current_seq)
        self._advance()
        return True

    def _reached(self, now_s: float) -> None:
        self._send_reached(self.current_seq)
        self._advance()

    def _advance(self) -> None:
        self.current_seq += 1
        self._item_started = False
        if self.current_seq < len(self.items):
            self._send_current()

    def _finish(self) -> None:
        if self.state is not MissionState.COMPLETE:
            self.state = MissionState.COMPLETE
            self.current_seq = max(len(self.items) - 1, 0)
            # PX4 loiters at the last mission position, not where braking would end.
            last = next(
                (p for p in map(self.position_of, reversed(self.items)) if p is not None), None
            )
            if last is None:
                self._nav.hold_here()
            else:
                self._nav.hold_at(*last)
            self._nav.requested_mode = FlightMode.HOLD
            self._send_current()

    def landed(self) -> None:
        """The vehicle touched down during a NAV_LAND item: that item is done."""
        active = self.state is MissionState.ACTIVE and self.current_seq < len(self.items)
        if active and self.items[self.current_seq].command == NAV_LAND:
            self._send_reached(self.current_seq)
            self.state = MissionState.COMPLETE

    # reporting

    def _send_reached(self, seq: int) -> None:
        self._out.send(self._out.mav.mission_item_reached_encode(seq))

    def _send_current(self) -> None:
        self._out.send(self.current_message(in_mission=True))

    def current_message(self, in_mission: bool) -> bytes:
        """MISSION_CURRENT, with the checksums of the lists the vehicle holds."""
        total = len(self.items) if self.items else 65535
        store = self._store
        return MISSION_CURRENT.pack(
            self._out.mav,
            self.current_seq if self.items else 0,
            total,
            int(self.state),
            MISSION_MODE_MISSION if in_mission else MISSION_MODE_SUSPENDED,
            store.checksum(MISSION),
            store.checksum(FENCE),
            store.checksum(RALLY),
        )
