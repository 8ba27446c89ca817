"""COMMAND_LONG / COMMAND_INT: decode, dispatch to the commander or telemetry, COMMAND_ACK.

Positions come as COMMAND_INT x/y (degE7) in MAV_FRAME_GLOBAL_INT (AMSL) or
GLOBAL_RELATIVE_ALT_INT, or as COMMAND_LONG param5/6/7 (degrees, AMSL), the way
MAVSDK sends them. Unknown commands are answered UNSUPPORTED, as PX4 does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import common as mavlink

from missions.geo import LocalFrame
from sitl.commander import ACCEPTED, DENIED, REJECTED, Commander
from sitl.link import Outbox
from sitl.modes import FlightMode
from sitl.navigator import Goal, Navigator, Orbit
from sitl.params import ParamTable
from sitl.physics import Multirotor

UNSUPPORTED = mavlink.MAV_RESULT_UNSUPPORTED
FORCE_MAGIC = 21196
INT32_MAX = 2**31 - 1
NAN_AS_INT = 0x7FF80000  # a float NaN's high word, sent by mistake as x or y
MAV_RESULT_COMMAND_UNSUPPORTED_MAV_FRAME = 9  # newer than this pymavlink's dialect


@dataclass(frozen=True, slots=True)
class Command:
    """A command with its position in degrees and metres AMSL, as PX4 reads it.

    PX4 copies COMMAND_INT x/y (degE7) and z into param5/6/7 whatever the frame,
    so z is an AMSL altitude for DO_REPOSITION and DO_ORBIT even in a relative frame
    (MAVSDK's do_orbit sends it that way). x = y = INT32_MAX means "no position".
    """

    command: int
    params: tuple[float, float, float, float]
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    param5: float
    param6: float
    param7: float

    @classmethod
    def from_message(cls, msg: object) -> Command:
        def get(name: str) -> Any:
            return getattr(msg, name)

        p = (get("param1"), get("param2"), get("param3"), get("param4"))
        if msg.get_type() == "COMMAND_INT":  # type: ignore[attr-defined]
            x, y, z = get("x"), get("y"), get("z")
            if x == INT32_MAX and y == INT32_MAX:
                lat = lon = math.nan
            else:
                lat, lon = x * 1e-7, y * 1e-7
            return cls(get("command"), p, lat, lon, z, lat, lon, z)
        p5, p6, p7 = get("param5"), get("param6"), get("param7")
        return cls(get("command"), p, p5, p6, p7, p5, p6, p7)


class CommandHandler:
    """Executes commands and acknowledges each one to its sender."""

    def __init__(
        self,
        commander: Commander,
        navigator: Navigator,
        airframe: Multirotor,
        params: ParamTable,
        frame: LocalFrame,
        origin_alt_amsl_m: float,
        outbox: Outbox,
        telemetry_request: Callable[[int, tuple[float, ...]], tuple[int, list]],
    ) -> None:
        self._commander = commander
        self._nav = navigator
        self._airframe = airframe
        self._params = params
        self._frame = frame
        self._origin_alt_amsl_m = origin_alt_amsl_m
        self._out = outbox
        self._telemetry_request = telemetry_request
        self._handlers: dict[int, Callable[[Command], int]] = {
            mavlink.MAV_CMD_COMPONENT_ARM_DISARM: self._arm_disarm,
            mavlink.MAV_CMD_NAV_TAKEOFF: self._takeoff,
            mavlink.MAV_CMD_NAV_LAND: lambda c: self._commander.land(),
            mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH: lambda c: self._commander.return_to_launch(),
            mavlink.MAV_CMD_MISSION_START: self._mission_start,
            mavlink.MAV_CMD_DO_SET_MODE: self._set_mode,
            mavlink.MAV_CMD_DO_REPOSITION: self._reposition,
            mavlink.MAV_CMD_DO_ORBIT: self._orbit,
            mavlink.MAV_CMD_DO_SET_ROI_LOCATION: self._roi,
            mavlink.MAV_CMD_DO_SET_ROI_NONE: self._roi_none,
            mavlink.MAV_CMD_DO_CHANGE_SPEED: self._change_speed,
            mavlink.MAV_CMD_DO_SET_HOME: self._set_home,
            mavlink.MAV_CMD_DO_FLIGHTTERMINATION: self._terminate,
        }

    def handle(self, msg: object, sender: tuple[int, int]) -> None:
        cmd = Command.from_message(msg)
        target = getattr(msg, "target_system", 0)
        if target not in (0, self._out.mav.srcSystem):
            return
        if msg.get_type() == "COMMAND_INT":  # type: ignore[attr-defined]
            # Like PX4's MAVLink receiver: NaN sent as an integer is refused, and a
            # COMMAND_INT in any frame but MAV_FRAME_GLOBAL_INT is not understood.
            if msg.x == NAN_AS_INT and msg.y == NAN_AS_INT:  # type: ignore[attr-defined]
                self.ack(cmd.command, mavlink.MAV_RESULT_DENIED, sender)
                return
            if msg.frame != mavlink.MAV_FRAME_GLOBAL_INT:  # type: ignore[attr-defined]
                self.ack(cmd.command, MAV_RESULT_COMMAND_UNSUPPORTED_MAV_FRAME, sender)
                return
        handler = self._handlers.get(cmd.command)
        followups: list = []
        if handler is not None:
            result = handler(cmd)
        else:
            telemetry_params = (*cmd.params, cmd.param5, cmd.param6, cmd.param7)
            result, followups = self._telemetry_request(cmd.command, telemetry_params)
        self.ack(cmd.command, result, sender)
        for msg in followups:
            self._out.send(msg)

    def ack(self, command: int, result: int, sender: tuple[int, int]) -> None:
        self._out.send(self._out.mav.command_ack_encode(command, result, 0, 0, *sender))

    # helpers

    def _local(self, cmd: Command) -> tuple[float, float, float]:
        """The command's position in local metres; NaN fields mean "where I am"."""
        a = self._airframe
        if math.isfinite(cmd.latitude_deg) and math.isfinite(cmd.longitude_deg):
            x, y = self._frame.lonlat_to_xy(cmd.longitude_deg, cmd.latitude_deg)
        else:
            x, y = a.x_m, a.y_m
        finite = math.isfinite(cmd.altitude_m)
        z = cmd.altitude_m - self._origin_alt_amsl_m if finite else a.z_m
        return x, y, z

    # handlers

    def _arm_disarm(self, cmd: Command) -> int:
        arm = round(cmd.params[0])
        force = round(cmd.params[1]) == FORCE_MAGIC if math.isfinite(cmd.params[1]) else False
        if arm == 1:
            return self._commander.arm(force)
        if arm == 0:
            return self._commander.disarm(force)
        return DENIED

    def _takeoff(self, cmd: Command) -> int:
        alt_amsl = cmd.param7
        if math.isfinite(alt_amsl):
            target_z = alt_amsl - self._origin_alt_amsl_m
        else:
            default = float(self._params.get("MIS_TAKEOFF_ALT"))
            self._out.send_text(
                mavlink.MAV_SEVERITY_INFO, f"Using default takeoff altitude: {default:.1f} m\t"
            )
            target_z = self._nav.home[2] + default
        return self._commander.takeoff(target_z)

    def _mission_start(self, cmd: Command) -> int:
        first = cmd.params[0]
        return self._commander.mission_start(int(first) if math.isfinite(first) else -1)

    def _set_mode(self, cmd: Command) -> int:
        base, main, sub = cmd.params[0], cmd.params[1], cmd.params[2]
        if not int(base) & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            if int(base) & mavlink.MAV_MODE_FLAG_AUTO_ENABLED:
                mode: FlightMode | None = FlightMode.MISSION
            elif int(base) & mavlink.MAV_MODE_FLAG_GUIDED_ENABLED:
                mode = FlightMode.POSCTL
            else:
                mode = FlightMode.MANUAL
        else:
            mode = FlightMode.from_custom(
                int(main) if math.isfinite(main) else 0, int(sub) if math.isfinite(sub) else 0
            )
        if mode is None:
            return DENIED
        return self._commander.request_mode(mode)

    def _reposition(self, cmd: Command) -> int:
        x, y, z = self._local(cmd)
        speed = cmd.params[0] if math.isfinite(cmd.params[0]) and cmd.params[0] > 0 else None
        yaw_deg = cmd.params[3]
        heading = math.radians(yaw_deg) if math.isfinite(yaw_deg) else None
        change_mode = (
            int(cmd.params[1]) & mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE
            if math.isfinite(cmd.params[1])
            else 0
        )
        return self._commander.reposition(Goal(x, y, z, speed, heading), bool(change_mode))

    def _orbit(self, cmd: Command) -> int:
        x, y, z = self._local(cmd)
        radius, speed, yaw_behavior = cmd.params[0], cmd.params[1], cmd.params[2]
        orbit = Orbit(
            center_x_m=x,
            center_y_m=y,
            z_m=z,
            radius_m=abs(radius) if math.isfinite(radius) and radius != 0 else 20.0,
            speed_m_s=speed if math.isfinite(speed) and speed != 0 else 2.0,
            yaw_behavior=int(yaw_behavior) if math.isfinite(yaw_behavior) else 0,
        )
        return self._commander.orbit(orbit)

    def _roi(self, cmd: Command) -> int:
        x, y, _ = self._local(cmd)
        self._nav.roi = (x, y)
        return ACCEPTED

    def _roi_none(self, cmd: Command) -> int:
        self._nav.roi = None
        return ACCEPTED

    def _change_speed(self, cmd: Command) -> int:
        speed = cmd.params[1]
        if not math.isfinite(speed) or speed == -1:
            return ACCEPTED
        self._nav.speed_override_m_s = speed if speed > 0 else None
        return ACCEPTED

    def _set_home(self, cmd: Command) -> int:
        if cmd.params[0] >= 0.5:
            a = self._airframe
            self._nav.home = (a.x_m, a.y_m, a.z_m)
            return ACCEPTED
        if not (math.isfinite(cmd.latitude_deg) and math.isfinite(cmd.longitude_deg)):
            return DENIED
        self._nav.home = self._local(cmd)
        return ACCEPTED

    def _terminate(self, cmd: Command) -> int:
        if cmd.params[0] > 0.5:
            self._commander.terminate()
        return ACCEPTED


__all__ = ["ACCEPTED", "DENIED", "REJECTED", "UNSUPPORTED", "Command", "CommandHandler"]
