"""Unit tests of the simulator's pure parts: parameters, modes, speed rules, framing, battery."""

from __future__ import annotations

import math

import pytest
from pymavlink.dialects.v20 import common as mavlink

from missions.geo import GeoPoint, LocalFrame
from sitl import guidance
from sitl.battery import Battery, BatteryWarning, power_w
from sitl.config import SimConfig
from sitl.faults import FaultSpec
from sitl.geofence import FenceError, Geofence
from sitl.mission_items import FENCE, MissionItem, check_item
from sitl.modes import FlightMode
from sitl.params import INT32, PX4_DEFAULTS, REAL32, ParamError, ParamTable
from sitl.wire import FramePacker
from tests.sitl.stepping import PUEBLO

BRIEF_PARAMS = [
    "MPC_XY_CRUISE",
    "MPC_XY_VEL_MAX",
    "MPC_ACC_HOR",
    "MPC_ACC_HOR_MAX",
    "MPC_Z_VEL_MAX_UP",
    "MPC_Z_V_AUTO_UP",
    "MPC_Z_VEL_MAX_DN",
    "MPC_Z_V_AUTO_DN",
    "MPC_TKO_SPEED",
    "MPC_LAND_SPEED",
    "MIS_TAKEOFF_ALT",
    "NAV_ACC_RAD",
    "GF_ACTION",
    "GF_PREDICT",
    "GF_MAX_HOR_DIST",
    "GF_MAX_VER_DIST",
    "NAV_DLL_ACT",
    "COM_DL_LOSS_T",
    "NAV_RCL_ACT",
    "COM_RC_IN_MODE",
    "RTL_RETURN_ALT",
    "RTL_DESCEND_ALT",
    "COM_DISARM_PRELAND",
    "BAT_LOW_THR",
    "BAT_CRIT_THR",
    "BAT_EMERGEN_THR",
    "COM_LOW_BAT_ACT",
    "COM_FAIL_ACT_T",
]


def test_parameter_table_holds_the_px4_defaults(profile) -> None:
    table = ParamTable()
    assert set(BRIEF_PARAMS) <= set(table.names)
    for name, value in profile["measured"]["param_defaults"].items():
        assert table.get(name) == value, name
        assert table.type_of(name) == (INT32 if isinstance(value, int) else REAL32), name
    for name, seen in profile["params_seen"].items():
        if name in table:
            assert table.type_of(name) == seen["type"], name
    assert table.names == sorted(PX4_DEFAULTS)  # PX4 indexes parameters alphabetically


def test_parameter_set_rounds_ints_and_rejects_unknowns() -> None:
    table = ParamTable({"GF_ACTION": 3.2, "MPC_XY_CRUISE": 20})
    assert table.get("GF_ACTION") == 3
    assert table.get("MPC_XY_CRUISE") == 20.0
    with pytest.raises(ParamError):
        table.set("NOT_A_PARAM", 1.0)
    with pytest.raises(ParamError):
        table.decode_wire("GF_ACTION", 3.0, REAL32)
    assert table.decode_wire("COM_DL_LOSS_T", table.encode_wire("COM_DL_LOSS_T"), INT32) == 10


@pytest.mark.parametrize("mode", list(FlightMode))
def test_flight_modes_round_trip_through_custom_mode(mode: FlightMode) -> None:
    custom = mode.custom_mode
    assert FlightMode.from_custom((custom >> 16) & 0xFF, custom >> 24) is mode


def test_base_mode_matches_px4() -> None:
    assert FlightMode.HOLD.base_mode(armed=False) == 29
    assert FlightMode.HOLD.base_mode(armed=True) == 157
    assert FlightMode.from_custom(4, 0) is FlightMode.MISSION
    assert FlightMode.from_custom(9, 0) is None


def test_corner_speed_grows_with_the_turn_angle() -> None:
    limits = guidance.SpeedLimits(cruise_m_s=20.0, accel_m_s2=3.0, jerk_m_s3=4.0, traj_p_per_s=0.5)
    speeds = [
        guidance.corner_speed_m_s(
            (0, 0), (0, 500), (math.sin(a) * 500, 500 + math.cos(a) * 500), 10.0, limits
        )
        for a in (math.radians(d) for d in (170, 90, 30, 0))
    ]
    assert speeds == sorted(speeds)
    assert speeds[-1] == 20.0  # straight on: cruise
    assert speeds[0] < 2.0  # a hairpin: nearly a stop


def test_landing_descent_schedule_is_px4s() -> None:
    rates = [
        guidance.landing_descent_rate(z, 1.5, 0.7, 0.3, 10.0, 5.0, 1.0) for z in (50, 10, 5, 2, 0.5)
    ]
    assert rates == [1.5, 1.5, 0.7, 0.7, 0.3]


@pytest.mark.parametrize(
    ("message_class", "fields"),
    [
        (mavlink.MAVLink_attitude_message, (1234, 0.1, -0.2, 3.0, 0.01, 0.0, -0.3)),
        (
            mavlink.MAVLink_attitude_quaternion_message,
            (99, 1.0, 0.0, 0.0, 0.0, 0.1, 0.2, 0.3, 0, 0, 0, 0),
        ),
        (
            mavlink.MAVLink_global_position_int_message,
            (5, 382544000, -1046091000, 1490000, 60000, 1, -2, 3, 4500),
        ),
        (mavlink.MAVLink_local_position_ned_message, (7, 1.0, 2.0, -60.0, 0.0, 0.0, 0.0)),
    ],
)
def test_fast_frames_equal_pymavlink_frames(message_class, fields) -> None:
    mav = mavlink.MAVLink(None, srcSystem=3, srcComponent=1)
    mav.seq = 42
    packer = FramePacker(message_class)
    args = list(fields)
    if message_class is mavlink.MAVLink_attitude_quaternion_message:
        args = [*fields[:8], list(fields[8:])]
    assert packer.pack(mav, *fields) == message_class(*args).pack(mav)


def test_hover_endurance_and_warnings() -> None:
    pack = Battery(hover_endurance_s=2400.0)
    for _ in range(2400):
        pack.drain(1.0, airspeed_m_s=0.0, climb_m_s=0.0, armed=True, airborne=True)
    assert pack.remaining == pytest.approx(0.0, abs=1e-6)
    assert pack.warning(0.15, 0.07, 0.05) is BatteryWarning.EMERGENCY
    assert power_w(20.0, 0.0) > power_w(10.0, 0.0)
    assert power_w(0.0, 3.0) > power_w(0.0, 0.0)
    pack = Battery(2400.0)
    pack.fail(0.06)
    assert pack.warning(0.15, 0.07, 0.05) is BatteryWarning.CRITICAL


def test_fault_specs_parse() -> None:
    assert FaultSpec.parse("2:link-loss@30") == FaultSpec(2, "link-loss", None, 30.0)
    with pytest.raises(ValueError, match="KIND one of"):
        FaultSpec.parse("0:meteor")


def test_config_validates_and_resolves_ports() -> None:
    cfg = SimConfig(home=PUEBLO, instance=2)
    assert (cfg.system_id, cfg.resolved_api_port, cfg.resolved_local_port) == (3, 14542, 14582)
    assert cfg.mavlink_address == "udpin://127.0.0.1:14542"
    with pytest.raises(ValueError, match="speed_factor"):
        SimConfig(home=PUEBLO, speed_factor=0)


def _fence_item(seq: int, command: int, at: GeoPoint, param1: float) -> MissionItem:
    return MissionItem(seq, 0, command, 0, 1, param1, 0, 0, 0, round(at.latitude_deg * 1e7),
                       round(at.longitude_deg * 1e7), 0.0, FENCE)  # fmt: skip


def test_geofence_inclusion_exclusion_and_limits() -> None:
    frame = LocalFrame(PUEBLO)
    fence = Geofence(frame)
    square = [frame.to_geo(x, y) for x, y in ((-100, -100), (100, -100), (100, 100), (-100, 100))]
    items = [_fence_item(i, 5001, p, 4) for i, p in enumerate(square)]
    items.append(_fence_item(4, 5004, frame.to_geo(50, 50), 20.0))
    fence.load(tuple(items))
    inside = fence.violation(0, 0, 10, (0, 0), 0, 0)
    assert inside is None
    assert fence.violation(50, 55, 10, (0, 0), 0, 0) == "exclusion zone"
    assert fence.violation(150, 0, 10, (0, 0), 0, 0) == "outside inclusion zone"
    assert fence.violation(0, 90, 10, (0, 0), 80, 0) == "max distance from home"
    assert fence.violation(0, 0, 130, (0, 0), 0, 120) == "max altitude"
    with pytest.raises(FenceError):
        fence.parse(tuple(items[:2]))  # a polygon announced with 4 vertices has only 2


def test_mission_items_are_checked_like_px4() -> None:
    ok = MissionItem(0, 6, 16, 0, 1, 0, 0, 0, math.nan, 1, 1, 10.0)
    assert check_item(ok) == mavlink.MAV_MISSION_ACCEPTED
    assert (
        check_item(MissionItem(0, 6, 31010, 0, 1, 0, 0, 0, 0, 1, 1, 10.0))
        == mavlink.MAV_MISSION_UNSUPPORTED
    )
    assert (
        check_item(MissionItem(0, 1, 16, 0, 1, 0, 0, 0, 0, 1, 1, 10.0))
        == mavlink.MAV_MISSION_UNSUPPORTED_FRAME
    )


@pytest.mark.parametrize(
    "module",
    ["battery", "faults", "guidance", "modes", "params", "physics", "wire"],
)
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    failures, _ = doctest.testmod(importlib.import_module(f"sitl.{module}"))
    assert failures == 0
