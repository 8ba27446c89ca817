"""The simulator's key timings against PX4 SITL's, in vehicle time (deterministic stepping).

Reference: tests/fixtures/sitl/px4_profile.json — `measured` holds hand-measured PX4
figures, `flight_timings_s` those of the recorded flight. Tolerances are stated per
test; both references are met where they disagree.
"""

from __future__ import annotations

import math

import pytest

from sitl.mission_items import FENCE, MissionItem
from sitl.modes import FlightMode
from tests.sitl.stepping import (
    FAST,
    boot,
    distance_m,
    goto,
    make_vehicle,
    run_for,
    run_until,
    take_off,
)

DIAGONAL = 1.0 / math.sqrt(2.0)


def test_boot_health_and_arming_window(profile) -> None:
    vehicle = make_vehicle()
    phases = profile["sys_status_phases"]
    ready_at = run_until(vehicle, lambda v: v.telemetry.sensor_bits()[0] & 0x20, 20.0)
    assert ready_at == pytest.approx(phases[-1]["t_s"], abs=1.0)  # GPS present: health_all_ok
    low, high = profile["measured"]["timings_s"]["boot_to_health_all_ok"]
    assert low - 0.5 <= ready_at <= high + 0.5
    armable_at = run_until(vehicle, lambda v: v.commander.preflight_failure() is None, 20.0)
    low, high = profile["measured"]["timings_s"]["boot_to_armable"]
    assert low <= armable_at <= high


def test_sys_status_bits_match_px4_phases(profile) -> None:
    vehicle = make_vehicle()
    seen = []
    for _ in range(400):
        vehicle.step()
        bits = vehicle.telemetry.sensor_bits()
        if not seen or seen[-1][1:] != bits:
            seen.append((vehicle.now_s, *bits))
    px4 = [(p["present"], p["enabled"], p["health"]) for p in profile["sys_status_phases"]]
    assert [s[1:] for s in seen] == px4


def test_takeoff_detected_and_takeoff_to_60m(profile) -> None:
    vehicle = make_vehicle(MIS_TAKEOFF_ALT=60.0)
    texts = vehicle.statustexts
    armed_at = take_off(vehicle, 60.0)
    detected_at = next(t for t, text in texts if text == "Takeoff detected")
    ref = profile["measured"]["timings_s"]["arm_to_takeoff_detected"]
    assert detected_at - armed_at == pytest.approx(ref, abs=0.3)

    vehicle = make_vehicle()
    boot(vehicle)
    vehicle.commander.arm()
    armed_at = vehicle.now_s
    vehicle.commander.takeoff(60.0)
    within_1m = run_until(vehicle, lambda v: v.airframe.z_m >= 59.0, 60.0) - armed_at
    # PX4: ~30 s by hand, 34.1 s in the recorded flight; within 4 s of both.
    assert within_1m == pytest.approx(
        profile["measured"]["timings_s"]["takeoff_60m_defaults"], abs=4
    )
    logged = profile["flight_timings_s"]["arm_to_within_1m_of_target_alt"]
    assert within_1m == pytest.approx(logged, abs=4)
    hold_at = run_until(vehicle, lambda v: v.commander.mode is FlightMode.HOLD, 20.0) - armed_at
    assert hold_at == pytest.approx(
        profile["flight_timings_s"]["arm_to_takeoff_complete_hold"], abs=4
    )


def test_goto_1500m_at_20_m_s_follows_px4_curve(profile) -> None:
    vehicle = make_vehicle(**FAST)
    take_off(vehicle, 60.0)
    start = (vehicle.airframe.x_m, vehicle.airframe.y_m)
    commanded_at = vehicle.now_s
    goal = goto(vehicle, 1500.0 * DIAGONAL, 1500.0 * DIAGONAL)
    marks: dict[str, float] = {}
    peak = [0.0]

    def observe(v) -> None:
        travelled = math.hypot(v.airframe.x_m - start[0], v.airframe.y_m - start[1])
        peak[0] = max(peak[0], v.airframe.ground_speed_m_s)
        for mark in ("100", "500", "1000", "1400"):
            if mark not in marks and travelled >= float(mark):
                marks[mark] = v.now_s - commanded_at
        if "moving" not in marks and v.airframe.ground_speed_m_s > 0.5:
            marks["moving"] = v.now_s - commanded_at

    vehicle.add_step_observer(observe)
    arrived = run_until(vehicle, lambda v: distance_m(v, goal) < 1.0, 200.0) - commanded_at
    measured = profile["measured"]
    assert arrived == pytest.approx(measured["timings_s"]["goto_1500m_20ms"], abs=3.0)
    for mark, ref in measured["goto_1500m_20ms_marks_s"].items():
        assert marks[mark] == pytest.approx(ref, abs=2.5), mark  # by hand, from the command
    for mark, ref in profile["flight_timings_s"]["transit_marks_from_motion_s"].items():
        assert marks[mark] - marks["moving"] == pytest.approx(ref, abs=1.5), mark  # the log
    assert peak[0] == pytest.approx(measured["goto_1500m_20ms_max_speed_m_s"], abs=0.5)


def test_goto_1500m_with_default_cruise_takes_313s(profile) -> None:
    vehicle = make_vehicle()
    take_off(vehicle, 60.0)
    commanded_at = vehicle.now_s
    goal = goto(vehicle, 1500.0 * DIAGONAL, 1500.0 * DIAGONAL)
    arrived = run_until(vehicle, lambda v: distance_m(v, goal) < 1.0, 400.0) - commanded_at
    assert arrived == pytest.approx(
        profile["measured"]["timings_s"]["goto_1500m_defaults"], rel=0.05
    )


def test_land_from_60m_and_disarm(profile) -> None:
    vehicle = make_vehicle()
    take_off(vehicle, 60.0)
    vehicle.commander.land()
    landed_from = vehicle.now_s
    disarmed = run_until(vehicle, lambda v: not v.commander.armed, 120.0) - landed_from
    assert disarmed == pytest.approx(
        profile["measured"]["timings_s"]["land_60m_to_disarm"], abs=4.0
    )
    assert disarmed == pytest.approx(profile["flight_timings_s"]["land_cmd_to_disarm"], abs=4.0)
    texts = [text for _, text in vehicle.statustexts]
    assert texts[-2:] == ["Landing detected", "Disarmed by landing"]
    detected = next(t for t, text in vehicle.statustexts if text == "Landing detected")
    disarm = next(t for t, text in vehicle.statustexts if text == "Disarmed by landing")
    assert disarm - detected == pytest.approx(
        profile["flight_timings_s"]["landing_detected_to_disarm"], abs=0.2
    )
    assert vehicle.commander.mode is FlightMode.HOLD  # PX4 is back in Hold after disarming


def test_armed_idle_vehicle_disarms_after_com_disarm_preland(profile) -> None:
    vehicle = make_vehicle()
    boot(vehicle)
    vehicle.commander.arm()
    armed_at = vehicle.now_s
    disarmed = run_until(vehicle, lambda v: not v.commander.armed, 30.0) - armed_at
    assert disarmed == pytest.approx(
        profile["measured"]["timings_s"]["idle_armed_auto_disarm"], abs=0.1
    )


def _exclusion_band(vehicle, south_m: float, north_m: float) -> None:
    corners = [(-500.0, south_m), (500.0, south_m), (500.0, north_m), (-500.0, north_m)]
    items = []
    for seq, (x, y) in enumerate(corners):
        lon, lat = vehicle.frame.to_lonlat(x, y)
        items.append(
            MissionItem(
                seq, 0, 5002, 0, 1, 4.0, 0, 0, 0, round(lat * 1e7), round(lon * 1e7), 0.0, FENCE
            )
        )
    vehicle.missions.replace(FENCE, tuple(items))
    vehicle._upload_changed(FENCE)


@pytest.mark.parametrize(
    ("gf_action", "gf_predict", "reference", "tolerance_m"),
    [
        (2, 0, "geofence_hold_overshoot_m", 15.0),
        (2, 1, "geofence_hold_predict_inside_m", 5.0),
        (3, 0, "geofence_rtl_overshoot_m", 25.0),
    ],
)
def test_fence_breach_overshoot(profile, gf_action, gf_predict, reference, tolerance_m) -> None:
    vehicle = make_vehicle(**FAST, GF_ACTION=gf_action, GF_PREDICT=gf_predict)
    _exclusion_band(vehicle, 600.0, 900.0)
    take_off(vehicle, 60.0)
    goto(vehicle, 0.0, 1500.0)
    deepest = [0.0]
    vehicle.add_step_observer(
        lambda v: deepest.__setitem__(0, max(deepest[0], v.airframe.y_m - 600.0))
    )
    run_for(vehicle, 90.0)
    assert deepest[0] == pytest.approx(profile["measured"][reference], abs=tolerance_m)
    if gf_action == 2:
        assert vehicle.commander.mode is FlightMode.HOLD
        assert vehicle.airframe.y_m == pytest.approx(600.0, abs=2.0)  # back at the boundary
    else:
        assert vehicle.commander.mode is FlightMode.RTL


def test_mission_waypoint_corners_cost_time_like_px4() -> None:
    """Straight-through waypoints cost nothing, sharp turns cost a lot (PX4's cornering)."""

    def fly(legs_xy: list[tuple[float, float]]) -> float:
        vehicle = make_vehicle(**FAST)
        boot(vehicle)
        items = [MissionItem(0, 6, 22, 1, 1, 0, 0, 0, math.nan, 0, 0, 60.0)]
        for seq, (x, y) in enumerate(legs_xy, start=1):
            lon, lat = vehicle.frame.to_lonlat(x, y)
            items.append(
                MissionItem(
                    seq, 6, 16, 0, 1, 0, 0, 0, math.nan, round(lat * 1e7), round(lon * 1e7), 60.0
                )
            )
        vehicle.missions.replace(0, tuple(items))
        vehicle._upload_changed(0)
        started = vehicle.now_s
        assert vehicle.commander.mission_start(0) == 0
        end = legs_xy[-1]
        return (
            run_until(
                vehicle,
                lambda v: math.hypot(v.airframe.x_m - end[0], v.airframe.y_m - end[1]) < 1.0,
                300.0,
            )
            - started
        )

    straight = fly([(0.0, 500.0), (0.0, 1000.0), (0.0, 1500.0)])
    single = fly([(0.0, 1500.0)])
    right_angles = fly([(0.0, 500.0), (500.0, 500.0), (500.0, 1000.0)])
    assert straight == pytest.approx(single, abs=1.0)
    assert right_angles > straight + 8.0


def _dfr_mission(vehicle, cruise_alt_m: float, legs_xy: list[tuple[float, float]]) -> None:
    """dfr's mission: takeoff item at 10 m, then waypoints at cruise altitude, a loiter."""
    items = [MissionItem(0, 6, 22, 1, 1, 0, 0, 0, math.nan, 0, 0, 10.0)]
    for seq, (x, y) in enumerate(legs_xy, start=1):
        lon, lat = vehicle.frame.to_lonlat(x, y)
        command, radius = (16, 5.0) if seq < len(legs_xy) else (19, 0.0)  # WAYPOINT, LOITER_TIME
        items.append(
            MissionItem(
                seq,
                6,
                command,
                0,
                1,
                0,
                radius,
                0,
                math.nan,
                round(lat * 1e7),
                round(lon * 1e7),
                cruise_alt_m,
            )  # fmt: skip
        )
    vehicle.missions.replace(0, tuple(items))
    vehicle._upload_changed(0)


def test_dfr_mission_takeoff_and_departure_like_px4(profile) -> None:
    """PX4 spools up, ramps, climbs to the takeoff item and only then sets off."""
    ref = profile["measured"]["dfr_mission_takeoff_s"]
    vehicle = make_vehicle(MPC_TKO_SPEED=5.0, MPC_Z_V_AUTO_UP=5.0, MPC_XY_CRUISE=18.0,
                           MPC_XY_VEL_MAX=20.0)  # fmt: skip
    boot(vehicle)
    _dfr_mission(vehicle, 60.0, [(0.0, 800.0)])
    assert vehicle.commander.arm() == 0
    armed_at = vehicle.now_s
    assert vehicle.commander.mission_start(0) == 0  # within the spool-up, as dfr starts it
    marks: dict[str, float] = {}

    def observe(v) -> None:
        a, t = v.airframe, v.now_s - armed_at
        for name, reached in (
            ("arm_to_0_5m", a.z_m > 0.5),
            ("arm_to_2m", a.z_m > 2.0),
            ("arm_to_departure_median", a.ground_speed_m_s > 2.0),
        ):
            if reached and name not in marks:
                marks[name] = t

    vehicle.add_step_observer(observe)
    run_until(vehicle, lambda v: "arm_to_departure_median" in marks, 30.0)
    assert marks["arm_to_0_5m"] == pytest.approx(ref["arm_to_0_5m"], abs=0.4)
    assert marks["arm_to_2m"] == pytest.approx(ref["arm_to_2m"], abs=0.4)
    # PX4's own takeoffs spread over 6.4-10.1 s: its altitude estimate decides when the
    # takeoff item counts as reached.
    assert marks["arm_to_departure_median"] == pytest.approx(
        ref["arm_to_departure_median"], abs=0.6
    )


def test_dfr_mission_climbs_while_cruising_and_slows_at_a_climbing_waypoint() -> None:
    """PX4 flies straight at each waypoint in 3D: the climb to cruise altitude spreads over
    the first leg, and a first waypoint still climbing as it comes costs speed there."""
    vehicle = make_vehicle(MPC_TKO_SPEED=5.0, MPC_Z_V_AUTO_UP=5.0, MPC_XY_CRUISE=18.0,
                           MPC_XY_VEL_MAX=20.0)  # fmt: skip
    boot(vehicle)
    _dfr_mission(vehicle, 60.0, [(0.0, 500.0), (0.0, 1000.0)])
    vehicle.commander.arm()
    vehicle.commander.mission_start(0)
    at_200 = run_until(vehicle, lambda v: v.airframe.y_m > 200.0, 60.0)
    assert 25.0 < vehicle.airframe.z_m < 40.0  # ~30 m on the line from 10 to 60 m, not 60 m
    slowest = [99.0]

    def observe(v) -> None:
        if 450.0 < v.airframe.y_m < 550.0:
            slowest[0] = min(slowest[0], v.airframe.ground_speed_m_s)

    vehicle.add_step_observer(observe)
    run_until(vehicle, lambda v: v.airframe.y_m > 600.0, 60.0)
    assert at_200 > 0
    assert 8.0 < slowest[0] < 15.0  # PX4 SITL: ~11 m/s through such a waypoint
