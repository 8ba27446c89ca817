"""The MAVLink side of a sortie, without a vehicle: parameters, items, fence, read-back check."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from missions.geo import GeoPoint
from missions.mission_plan import (
    FRAME_GLOBAL_RELATIVE_ALT,
    FRAME_GLOBAL_RELATIVE_ALT_INT,
    FlightSettings,
    GeofenceAction,
    LinkLossAction,
    LowBatteryAction,
    MavCmd,
    MissionType,
    ParamType,
    build_fence,
    build_mission,
    build_params,
    item_differences,
    param_differences,
)
from missions.profile import DroneProfile
from missions.route import Fence, FenceCircle, FencePolygon, Route, Waypoint

HOME = Waypoint(38.2544, -104.6091, 0.0)
TURN = Waypoint(38.2600, -104.6000, 60.0)
SCENE = Waypoint(38.2680, -104.6010, 60.0)
AREA = FencePolygon(((38.24, -104.62), (38.28, -104.62), (38.28, -104.59), (38.24, -104.59)), True)
NO_FLY = FencePolygon(((38.262, -104.612), (38.264, -104.612), (38.264, -104.608)), False)
PROFILE = DroneProfile(
    "d1",
    "udpin://127.0.0.1:1",
    max_speed_m_s=19.0,
    cruise_speed_m_s=17.0,
    climb_m_s=4.0,
    descent_m_s=2.5,
    acceleration_m_s2=4.5,
)


def route(*waypoints: Waypoint, fence: Fence | None = None, poi: GeoPoint | None = None) -> Route:
    points = waypoints or (HOME, TURN, SCENE)
    return Route(
        waypoints=points,
        length_m=1600.0,
        fence=fence
        or Fence(
            polygons=(AREA, NO_FLY), circles=(FenceCircle(GeoPoint(38.25, -104.60), 150.0, False),)
        ),
        point_of_interest=poi or points[-1].point,
        cruise_altitude_m=60.0,
    )


def test_params_follow_the_profile_with_px4_types() -> None:
    params = {p.name: p for p in build_params(route(), PROFILE)}
    assert params["MPC_XY_CRUISE"].value == 17.0  # the cruise speed, under...
    assert params["MPC_XY_VEL_MAX"].value == 19.0  # ...the airframe's limit
    assert params["MPC_ACC_HOR"].value == params["MPC_ACC_HOR_MAX"].value == 4.5
    assert params["MPC_Z_VEL_MAX_UP"].value == params["MPC_Z_V_AUTO_UP"].value == 4.0
    assert params["MPC_TKO_SPEED"].value == 4.0
    assert params["MPC_Z_VEL_MAX_DN"].value == params["MPC_Z_V_AUTO_DN"].value == 2.5
    assert 0 < params["MPC_LAND_SPEED"].value <= 2.5
    assert params["MIS_TAKEOFF_ALT"].value == 10.0
    assert params["RTL_RETURN_ALT"].value == 60.0
    assert params["NAV_DLL_ACT"].value == LinkLossAction.RETURN
    assert params["GF_ACTION"].value == GeofenceAction.HOLD
    ints = {n for n, p in params.items() if p.type is ParamType.INT32}
    assert params["COM_LOW_BAT_ACT"].value == LowBatteryAction.RETURN_THEN_LAND
    assert ints == {"NAV_DLL_ACT", "COM_DL_LOSS_T", "GF_ACTION", "COM_LOW_BAT_ACT"}
    # On scene through a short server restart, not PX4's 10 s.
    assert params["COM_DL_LOSS_T"].value == 30


def test_geofence_action_is_a_deployment_choice() -> None:
    settings = FlightSettings(geofence_action=GeofenceAction.RETURN)
    params = {p.name: p.value for p in build_params(route(), PROFILE, settings)}
    assert params["GF_ACTION"] == 3


def test_mission_climbs_while_cruising_with_one_waypoint_per_turn() -> None:
    plan = build_mission(route(), PROFILE, on_scene_s=120.0)
    commands = [item.command for item in plan.mission]
    assert commands == [
        MavCmd.NAV_TAKEOFF,
        MavCmd.DO_CHANGE_SPEED,
        MavCmd.NAV_WAYPOINT,
        MavCmd.DO_SET_ROI_LOCATION,
        MavCmd.NAV_LOITER_TIME,
        MavCmd.NAV_RETURN_TO_LAUNCH,
    ]
    takeoff, speed, turn, roi, loiter, _ = plan.mission
    assert takeoff.z == 10.0
    assert (takeoff.x, takeoff.y) == (382544000, -1046091000)
    assert speed.param2 == 17.0  # the cruise speed
    assert turn.z == 60.0
    assert (turn.x, turn.y) == (382600000, -1046000000)
    assert (roi.x, roi.y) == (382680000, -1046010000)
    assert loiter.param1 == 120.0
    assert loiter.z == 60.0
    assert [i.seq for i in plan.mission] == list(range(6))
    assert all(i.mission_type == MissionType.MISSION for i in plan.mission)
    assert plan.loiter_index == 4
    assert plan.rtl_index == 5
    assert plan.roi_index == 3
    positional = [i for i in plan.mission if i.command in (16, 19, 22, 195)]
    assert all(i.frame == FRAME_GLOBAL_RELATIVE_ALT_INT for i in positional)


def test_straight_route_has_no_intermediate_waypoint_and_unlimited_loiter() -> None:
    plan = build_mission(route(HOME, SCENE), PROFILE, on_scene_s=None)
    commands = [item.command for item in plan.mission]
    assert MavCmd.NAV_WAYPOINT not in commands
    assert plan.loiter_item.command == MavCmd.NAV_LOITER_UNLIM
    assert plan.first_waypoint_index == plan.loiter_index


def test_standoff_points_the_camera_at_the_scene_not_the_target() -> None:
    scene = GeoPoint(38.2700, -104.6050)
    plan = build_mission(route(HOME, SCENE, poi=scene), PROFILE, on_scene_s=60.0)
    roi = plan.mission[plan.roi_index]
    assert (roi.x, roi.y) == (382700000, -1046050000)
    assert (plan.loiter_item.x, plan.loiter_item.y) == (382680000, -1046010000)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="station and a target"):
        build_mission(route(HOME), PROFILE, 10.0)
    with pytest.raises(ValueError, match="on_scene_s"):
        build_mission(route(), PROFILE, -1.0)
    with pytest.raises(ValueError, match="3 or more"):
        build_fence(Fence(polygons=(FencePolygon(((1.0, 1.0), (2.0, 2.0)), True),)))


def test_fence_items_inclusion_first_with_vertex_counts() -> None:
    items = build_fence(
        Fence(
            polygons=(NO_FLY, AREA), circles=(FenceCircle(GeoPoint(38.25, -104.60), 150.0, False),)
        )
    )
    assert [i.command for i in items] == [5001] * 4 + [5002] * 3 + [5004]
    assert [i.param1 for i in items] == [4.0] * 4 + [3.0] * 3 + [150.0]
    assert all(i.mission_type == MissionType.FENCE for i in items)
    assert [i.seq for i in items] == list(range(8))


def test_read_back_within_tolerance_is_equal() -> None:
    plan = build_mission(route(), PROFILE, 30.0)
    # What an autopilot may hand back: other frame spelling, float32 params, NaN kept,
    # unused params zeroed, position off by one unit of 1e-7 degree, altitude by 5 mm.
    held = [
        replace(
            item,
            frame=FRAME_GLOBAL_RELATIVE_ALT
            if item.frame == FRAME_GLOBAL_RELATIVE_ALT_INT
            else item.frame,
            x=item.x + 1,
            z=item.z + 0.005 if item.z else item.z,
            param3=0.0,
        )
        for item in plan.mission
    ]
    assert item_differences(plan.mission, held) == ()


def test_read_back_differences_are_reported() -> None:
    plan = build_mission(route(), PROFILE, 30.0)
    held = list(plan.mission)
    held[2] = replace(held[2], x=held[2].x + 2)
    held[4] = replace(held[4], param1=31.0, z=60.5)
    diffs = item_differences(plan.mission, held)
    assert {(d.seq, d.field) for d in diffs} == {(2, "x"), (4, "param1"), (4, "z")}
    assert "item 4 param1: expected 30.0, got 31.0" in [str(d) for d in diffs]
    diffs = item_differences(plan.mission, held[:3])
    assert diffs[0].field == "count"
    swapped = [held[1], held[0], *held[2:]]
    assert any(d.field == "command" for d in item_differences(plan.mission, swapped))


def test_params_read_back_as_float32() -> None:
    params = build_params(route(), replace(PROFILE, max_speed_m_s=19.3))
    held = {p.name: float(np.float32(p.value)) for p in params}
    assert param_differences(params, held) == ()
    held["MPC_XY_CRUISE"] = 5.0
    del held["GF_ACTION"]
    diffs = {d.field: d.actual for d in param_differences(params, held)}
    assert diffs == {"MPC_XY_CRUISE": 5.0, "GF_ACTION": None}
    assert not math.isnan(params[0].value)
