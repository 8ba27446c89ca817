"""The vehicle's message streams: which messages, how often, and their fields as PX4 fills them.

Rates are PX4 SITL's on the API link (see tests/fixtures/sitl/px4_profile.json), in
vehicle time, so they scale with the speed factor. A stream is emitted at most once
per physics step, which caps any rate at 1/physics_step_s (50 Hz by default).
SET_MESSAGE_INTERVAL / REQUEST_MESSAGE act on these streams as on PX4.

Deliberately left out of PX4's set: OPEN_DRONE_ID_*, LINK_NODE_STATUS, PING, EVENT,
CURRENT_MODE, TIME_ESTIMATE_TO_TARGET, DISTANCE_SENSOR, ESTIMATOR_STATUS, VIBRATION
(unused by MAVSDK's plugins dfr uses); ATTITUDE_TARGET, POSITION_TARGET_LOCAL_NED
and SERVO_OUTPUT_RAW only with `SimConfig.px4_extra_streams`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from pymavlink.dialects.v20 import common as mavlink

from sitl.modes import FlightMode
from sitl.wire import FramePacker

if TYPE_CHECKING:
    from sitl.vehicle import SimVehicle

M = mavlink
# SYS_STATUS sensor bits as PX4 SITL reports them, by boot phase.
SENSORS_PRESENT = 0x0300400F
SENSORS_ENABLED = 0x0301400F
SENSORS_HEALTH = 0x0320883F
SENSORS_HEALTH_AT_BOOT = 0x0321C83F
SENSORS_PRESENT_AFTER_S = 1.9
STANDBY_AFTER_S = 4.1
GPS_BIT = M.MAV_SYS_STATUS_SENSOR_GPS
POSITION_CONTROL_BIT = M.MAV_SYS_STATUS_SENSOR_XY_POSITION_CONTROL
BATTERY_BIT = M.MAV_SYS_STATUS_SENSOR_BATTERY
PREARM_BIT = M.MAV_SYS_STATUS_PREARM_CHECK

CAPABILITIES = (
    M.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
    | M.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    | M.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
    | M.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
    | M.MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE
    | M.MAV_PROTOCOL_CAPABILITY_SET_ATTITUDE_TARGET
    | M.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_LOCAL_NED
    | M.MAV_PROTOCOL_CAPABILITY_FLIGHT_TERMINATION
    | M.MAV_PROTOCOL_CAPABILITY_MAVLINK2
    | M.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
    | M.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY
)  # PX4's, less FTP: this vehicle has no MAVLink FTP server for a client to wait on.
FLIGHT_SW_VERSION = (1 << 24) | (17 << 16) | (0 << 8) | M.FIRMWARE_VERSION_TYPE_DEV
#: The first bytes of the build's git hash, as PX4 sends them (here: "dfr sitl").
FLIGHT_CUSTOM_VERSION = b"dfr sitl"

SLOW_STREAMS_HZ: dict[int, float] = {
    M.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
    M.MAVLINK_MSG_ID_SYS_STATUS: 1.0,
    M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0,
    M.MAVLINK_MSG_ID_ALTITUDE: 1.0,
    M.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
    M.MAVLINK_MSG_ID_SCALED_PRESSURE: 1.0,
    M.MAVLINK_MSG_ID_POSITION_TARGET_GLOBAL_INT: 1.0,
    M.MAVLINK_MSG_ID_GPS_RAW_INT: 5.0,
    M.MAVLINK_MSG_ID_VFR_HUD: 4.0,
    M.MAVLINK_MSG_ID_BATTERY_STATUS: 0.5,
    M.MAVLINK_MSG_ID_HOME_POSITION: 0.5,
}
FAST_STREAMS = (
    M.MAVLINK_MSG_ID_ATTITUDE,
    M.MAVLINK_MSG_ID_ATTITUDE_QUATERNION,
    M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,
    M.MAVLINK_MSG_ID_LOCAL_POSITION_NED,
)
EXTRA_FAST_STREAMS = (
    M.MAVLINK_MSG_ID_ATTITUDE_TARGET,
    M.MAVLINK_MSG_ID_POSITION_TARGET_LOCAL_NED,
    M.MAVLINK_MSG_ID_SERVO_OUTPUT_RAW,
)
MISSION_MODES = (FlightMode.MISSION, FlightMode.TAKEOFF, FlightMode.LAND, FlightMode.RTL)
ATTITUDE = FramePacker(M.MAVLink_attitude_message)
ATTITUDE_QUATERNION = FramePacker(M.MAVLink_attitude_quaternion_message)
GLOBAL_POSITION_INT = FramePacker(M.MAVLink_global_position_int_message)
LOCAL_POSITION_NED = FramePacker(M.MAVLink_local_position_ned_message)
Outgoing: TypeAlias = mavlink.MAVLink_message | bytes


@dataclass(slots=True)
class _Stream:
    message_id: int
    default_interval_s: float
    interval_s: float  # <= 0: off
    next_s: float = 0.0


def euler_to_quaternion(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    )


def pressure_hpa(alt_amsl_m: float) -> float:
    """ISA static pressure."""
    return 1013.25 * (1.0 - 2.25577e-5 * alt_amsl_m) ** 5.25588


class Telemetry:
    """Schedules the streams and builds every message the vehicle sends on its own."""

    def __init__(self, vehicle: SimVehicle) -> None:
        self._v = vehicle
        cfg = vehicle.config
        rates = dict(SLOW_STREAMS_HZ)
        fast = FAST_STREAMS + (EXTRA_FAST_STREAMS if cfg.px4_extra_streams else ())
        rates.update({msg_id: cfg.fast_stream_hz for msg_id in fast})
        self._streams = {
            msg_id: _Stream(msg_id, 1.0 / hz, 1.0 / hz) for msg_id, hz in rates.items()
        }
        self._builders: dict[int, Callable[[], Outgoing | None]] = {
            M.MAVLINK_MSG_ID_HEARTBEAT: self.heartbeat,
            M.MAVLINK_MSG_ID_SYS_STATUS: self.sys_status,
            M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: self.extended_sys_state,
            M.MAVLINK_MSG_ID_ALTITUDE: self.altitude,
            M.MAVLINK_MSG_ID_MISSION_CURRENT: self.mission_current,
            M.MAVLINK_MSG_ID_SCALED_PRESSURE: self.scaled_pressure,
            M.MAVLINK_MSG_ID_POSITION_TARGET_GLOBAL_INT: self.position_target_global,
            M.MAVLINK_MSG_ID_GPS_RAW_INT: self.gps_raw_int,
            M.MAVLINK_MSG_ID_VFR_HUD: self.vfr_hud,
            M.MAVLINK_MSG_ID_BATTERY_STATUS: self.battery_status,
            M.MAVLINK_MSG_ID_HOME_POSITION: self.home_position,
            M.MAVLINK_MSG_ID_ATTITUDE: self.attitude,
            M.MAVLINK_MSG_ID_ATTITUDE_QUATERNION: self.attitude_quaternion,
            M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: self.global_position_int,
            M.MAVLINK_MSG_ID_LOCAL_POSITION_NED: self.local_position_ned,
            M.MAVLINK_MSG_ID_ATTITUDE_TARGET: self.attitude_target,
            M.MAVLINK_MSG_ID_POSITION_TARGET_LOCAL_NED: self.position_target_local,
            M.MAVLINK_MSG_ID_SERVO_OUTPUT_RAW: self.servo_output_raw,
            M.MAVLINK_MSG_ID_AUTOPILOT_VERSION: self.autopilot_version,
            M.MAVLINK_MSG_ID_GPS_GLOBAL_ORIGIN: self.gps_global_origin,
        }
        self._active = list(self._streams.values())

    def emit_due(self, now_s: float) -> None:
        send = self._v.link.send
        for stream in self._active:
            if now_s + 1e-9 >= stream.next_s:
                msg = self._builders[stream.message_id]()
                if msg is not None:
                    send(msg)
                stream.next_s += stream.interval_s
                if stream.next_s <= now_s:
                    stream.next_s = now_s + stream.interval_s

    # requests (SET_MESSAGE_INTERVAL, GET_MESSAGE_INTERVAL, REQUEST_MESSAGE)

    def request(self, command: int, params: tuple[float, ...]) -> tuple[int, list[Outgoing]]:
        """Result and follow-up messages for a telemetry command; UNSUPPORTED otherwise."""
        msg_id = int(params[0]) if math.isfinite(params[0]) else -1
        if command == M.MAV_CMD_SET_MESSAGE_INTERVAL:
            return self._set_interval(msg_id, params[1]), []
        if command == M.MAV_CMD_GET_MESSAGE_INTERVAL:
            stream = self._streams.get(msg_id)
            interval_us = -1 if stream is None or stream.interval_s <= 0 else stream.interval_s
            reply = self._v.link.mav.message_interval_encode(
                msg_id, int(interval_us * 1e6) if interval_us != -1 else -1
            )
            return M.MAV_RESULT_ACCEPTED, [reply]
        if command == M.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES:
            return M.MAV_RESULT_ACCEPTED, [self.autopilot_version()]
        if command == M.MAV_CMD_REQUEST_MESSAGE:
            builder = self._builders.get(msg_id)
            if builder is None:
                return M.MAV_RESULT_UNSUPPORTED, []
            msg = builder()
            if msg is None:
                return M.MAV_RESULT_TEMPORARILY_REJECTED, []
            return M.MAV_RESULT_ACCEPTED, [msg]
        return M.MAV_RESULT_UNSUPPORTED, []

    def _set_interval(self, msg_id: int, interval_us: float) -> int:
        if msg_id not in self._builders or not math.isfinite(interval_us):
            return M.MAV_RESULT_DENIED
        stream = self._streams.get(msg_id)
        if stream is None:
            stream = _Stream(msg_id, 0.0, 0.0)
            self._streams[msg_id] = stream
        if interval_us == 0:
            stream.interval_s = stream.default_interval_s
        elif interval_us < 0:
            stream.interval_s = 0.0
        else:
            stream.interval_s = max(interval_us * 1e-6, self._v.config.physics_step_s)
        stream.next_s = self._v.now_s
        self._active = [s for s in self._streams.values() if s.interval_s > 0]
        return M.MAV_RESULT_ACCEPTED

    def interval_s(self, msg_id: int) -> float:
        stream = self._streams.get(msg_id)
        return stream.interval_s if stream else 0.0

    # builders

    def heartbeat(self) -> mavlink.MAVLink_message:
        v, c = self._v, self._v.commander
        return v.link.mav.heartbeat_encode(
            M.MAV_TYPE_QUADROTOR,
            M.MAV_AUTOPILOT_PX4,
            c.mode.base_mode(c.armed),
            c.mode.custom_mode,
            self.system_status(),
            3,
        )

    def system_status(self) -> int:
        v, c = self._v, self._v.commander
        if c.terminated:
            return M.MAV_STATE_FLIGHT_TERMINATION
        if v.now_s < STANDBY_AFTER_S:
            return M.MAV_STATE_UNINIT
        if c.failsafe.active_reason is not None and c.armed:
            return M.MAV_STATE_CRITICAL
        return M.MAV_STATE_ACTIVE if c.armed else M.MAV_STATE_STANDBY

    def sensor_bits(self) -> tuple[int, int, int]:
        """(present, enabled, health) for SYS_STATUS."""
        v, c = self._v, self._v.commander
        if v.now_s < SENSORS_PRESENT_AFTER_S:
            return 0, 0, SENSORS_HEALTH_AT_BOOT
        present, enabled, health = SENSORS_PRESENT, SENSORS_ENABLED, SENSORS_HEALTH
        if c.estimator_ready:
            present |= GPS_BIT
            enabled |= GPS_BIT
            health |= POSITION_CONTROL_BIT
        if not c.gps_ok or not c.position_valid:
            health &= ~GPS_BIT
        if c.battery_critical:
            health &= ~BATTERY_BIT
        if c.preflight_failure() is None or c.armed:
            health |= PREARM_BIT
        return present, enabled, health

    def sys_status(self) -> mavlink.MAVLink_message:
        v = self._v
        present, enabled, health = self.sensor_bits()
        b = v.battery
        return v.link.mav.sys_status_encode(
            present, enabled, health, 120,
            int(b.voltage_v * 1000), int(b.current_a * 100), int(round(b.remaining * 100)),
            0, 0, 0, 0, 0, 0, 0, 0, 1,
        )  # fmt: skip

    def extended_sys_state(self) -> mavlink.MAVLink_message:
        return self._v.link.mav.extended_sys_state_encode(
            M.MAV_VTOL_STATE_UNDEFINED, int(self._v.commander.landed_state)
        )

    def altitude(self) -> mavlink.MAVLink_message:
        v, a = self._v, self._v.airframe
        amsl = v.origin_alt_amsl_m + a.z_m
        rel = a.z_m - v.navigator.home[2]
        return v.link.mav.altitude_encode(
            v.time_usec, amsl, amsl, a.z_m, rel, math.nan, max(rel, 0.0)
        )

    def mission_current(self) -> bytes:
        return self._v.mission_runner.current_message(self._v.commander.mode in MISSION_MODES)

    def scaled_pressure(self) -> mavlink.MAVLink_message:
        v = self._v
        amsl = v.origin_alt_amsl_m + v.airframe.z_m
        temp_cdeg = int((15.0 - 0.0065 * amsl) * 100)
        return v.link.mav.scaled_pressure_encode(
            v.time_boot_ms, pressure_hpa(amsl), 0.0, temp_cdeg, 0
        )

    def position_target_global(self) -> mavlink.MAVLink_message:
        v, goal = self._v, self._v.navigator.goal
        lon, lat = v.frame.to_lonlat(goal.x_m, goal.y_m)
        heading = goal.heading_rad if goal.heading_rad is not None else v.airframe.heading_rad
        return v.link.mav.position_target_global_int_encode(
            v.time_boot_ms, M.MAV_FRAME_GLOBAL_INT, 0, round(lat * 1e7), round(lon * 1e7),
            v.origin_alt_amsl_m + goal.z_m, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, heading, 0.0,
        )  # fmt: skip

    def gps_raw_int(self) -> mavlink.MAVLink_message:
        v, a, c = self._v, self._v.airframe, self._v.commander
        if not c.gps_ok:
            return v.link.mav.gps_raw_int_encode(
                v.time_usec, M.GPS_FIX_TYPE_NO_GPS, 0, 0, 0, 65535, 65535, 0, 65535, 0,
                0, 0, 0, 0, 0, 0,
            )  # fmt: skip
        lat, lon = v.lat_lon()
        alt_mm = round((v.origin_alt_amsl_m + a.z_m) * 1000)
        cog = round(math.degrees(math.atan2(a.vx_m_s, a.vy_m_s)) % 360 * 100) % 36000
        return v.link.mav.gps_raw_int_encode(
            v.time_usec, M.GPS_FIX_TYPE_3D_FIX, round(lat * 1e7), round(lon * 1e7), alt_mm,
            70, 110, round(a.ground_speed_m_s * 100), cog, 10, alt_mm, 900, 1780, 400, 0, 0,
        )  # fmt: skip

    def vfr_hud(self) -> mavlink.MAVLink_message:
        v, a = self._v, self._v.airframe
        throttle = round(a.thrust * 100) if v.commander.armed else 0
        heading = round(math.degrees(a.heading_rad)) % 360
        return v.link.mav.vfr_hud_encode(
            math.nan, a.ground_speed_m_s, heading, throttle, v.origin_alt_amsl_m + a.z_m, a.vz_m_s
        )

    def battery_status(self) -> mavlink.MAVLink_message:
        v, b = self._v, self._v.battery
        c = v.commander
        level = c.failsafe.battery_warning
        minutes_left = b.energy_j / max(b.current_a * b.voltage_v, 1.0) if b.current_a > 0 else 0
        return v.link.mav.battery_status_encode(
            0, M.MAV_BATTERY_FUNCTION_ALL, M.MAV_BATTERY_TYPE_LIPO, 32767,
            [int(b.voltage_v * 1000)] + [65535] * 9, int(b.current_a * 100),
            int(b.consumed_mah), -1, int(round(b.remaining * 100)), int(minutes_left),
            int(level), [0, 0, 0, 0], 0, 0,
        )  # fmt: skip

    def home_position(self) -> mavlink.MAVLink_message | None:
        v = self._v
        if v.now_s < SENSORS_PRESENT_AFTER_S:
            return None  # PX4 sets home once the first position fix is in
        hx, hy, hz = v.navigator.home
        lon, lat = v.frame.to_lonlat(hx, hy)
        return v.link.mav.home_position_encode(
            round(lat * 1e7), round(lon * 1e7), round((v.origin_alt_amsl_m + hz) * 1000),
            hy, hx, -hz, [1.0, 0.0, 0.0, 0.0], 0.0, 0.0, 0.0, v.time_usec,
        )  # fmt: skip

    def attitude(self) -> bytes:
        v, a = self._v, self._v.airframe
        return ATTITUDE.pack(
            v.link.mav, v.time_boot_ms, a.roll_rad, a.pitch_rad, a.heading_rad,
            a.roll_rate_rad_s, a.pitch_rate_rad_s, a.yaw_rate_rad_s,
        )  # fmt: skip

    def attitude_quaternion(self) -> bytes:
        v, a = self._v, self._v.airframe
        q = euler_to_quaternion(a.roll_rad, a.pitch_rad, a.heading_rad)
        return ATTITUDE_QUATERNION.pack(
            v.link.mav, v.time_boot_ms, *q, a.roll_rate_rad_s, a.pitch_rate_rad_s,
            a.yaw_rate_rad_s, 0.0, 0.0, 0.0, 0.0,
        )  # fmt: skip

    def global_position_int(self) -> bytes:
        v, a = self._v, self._v.airframe
        lat, lon = v.lat_lon()
        hdg = round(math.degrees(a.heading_rad) % 360.0 * 100) % 36000
        rel_mm = round((a.z_m - v.navigator.home[2]) * 1000)
        return GLOBAL_POSITION_INT.pack(
            v.link.mav, v.time_boot_ms, round(lat * 1e7), round(lon * 1e7),
            round((v.origin_alt_amsl_m + a.z_m) * 1000), rel_mm,
            round(a.vy_m_s * 100), round(a.vx_m_s * 100), round(-a.vz_m_s * 100), hdg,
        )  # fmt: skip

    def local_position_ned(self) -> bytes:
        v, a = self._v, self._v.airframe
        return LOCAL_POSITION_NED.pack(
            v.link.mav, v.time_boot_ms, a.y_m, a.x_m, -a.z_m, a.vy_m_s, a.vx_m_s, -a.vz_m_s
        )

    def attitude_target(self) -> mavlink.MAVLink_message:
        v, a = self._v, self._v.airframe
        q = euler_to_quaternion(a.roll_rad, a.pitch_rad, a.heading_rad)
        return v.link.mav.attitude_target_encode(
            v.time_boot_ms, 0, q, a.roll_rate_rad_s, a.pitch_rate_rad_s, a.yaw_rate_rad_s, a.thrust
        )

    def position_target_local(self) -> mavlink.MAVLink_message:
        v, goal = self._v, self._v.navigator.goal
        yaw = goal.heading_rad if goal.heading_rad is not None else v.airframe.heading_rad
        return v.link.mav.position_target_local_ned_encode(
            v.time_boot_ms, M.MAV_FRAME_LOCAL_NED, 0, goal.y_m, goal.x_m, -goal.z_m,
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0, yaw, 0.0,
        )  # fmt: skip

    def servo_output_raw(self) -> mavlink.MAVLink_message:
        v, a = self._v, self._v.airframe
        pwm = 1000 + round(a.thrust * 1000) if v.commander.armed else 900
        return v.link.mav.servo_output_raw_encode(
            v.time_usec & 0xFFFFFFFF, 0, pwm, pwm, pwm, pwm, 900, 900, 900, 900,
            900, 900, 900, 900, 900, 900, 900, 900,
        )  # fmt: skip

    def autopilot_version(self) -> mavlink.MAVLink_message:
        """As PX4 answers: version, capabilities and the build's git hash (a build
        without release tags, like PX4 built from a snapshot, reports 0.0.0 with it)."""
        v = self._v
        sys_id = v.config.system_id
        uid2 = [sys_id] + [0] * 17
        return v.link.mav.autopilot_version_encode(
            CAPABILITIES, FLIGHT_SW_VERSION, FLIGHT_SW_VERSION, 0, 0,
            list(FLIGHT_CUSTOM_VERSION), [0] * 8, [0] * 8, 0, 0, 0x5349544C00000000 + sys_id, uid2,
        )  # fmt: skip

    def gps_global_origin(self) -> mavlink.MAVLink_message | None:
        v = self._v
        if v.now_s < SENSORS_PRESENT_AFTER_S:
            return None
        origin = v.frame.origin
        return v.link.mav.gps_global_origin_encode(
            round(origin.latitude_deg * 1e7),
            round(origin.longitude_deg * 1e7),
            round(v.origin_alt_amsl_m * 1000),
            round(SENSORS_PRESENT_AFTER_S * 1e6),
        )
