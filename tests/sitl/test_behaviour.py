"""PX4 behaviours of the simulated vehicle, stepped deterministically (no sockets, no clock)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

import sitl.failsafe
from sitl.config import SimConfig
from sitl.fleet import SimFleet
from sitl.mission_items import FENCE, MISSION, MissionItem
from sitl.modes import FlightMode
from sitl.navigator import Goal
from sitl.rtl import RtlPhase
from sitl.vehicle import SimVehicle
from tests.sitl.conftest import sim_config
from tests.sitl.stepping import FAST, PUEBLO, boot, goto, make_vehicle, run_for, run_until, take_off
from tests.sitl.test_px4_timings import _exclusion_band

ACCEPTED, REJECTED = 0, 1


def upload(vehicle: SimVehicle, mission_type: int, items: list[MissionItem]) -> None:
    vehicle.missions.replace(mission_type, tuple(items))
    vehicle._upload_changed(mission_type)


def waypoint(
    vehicle: SimVehicle, seq: int, east_m: float, north_m: float, alt_m: float
) -> MissionItem:
    lon, lat = vehicle.frame.to_lonlat(east_m, north_m)
    return MissionItem(
        seq, 6, 16, 0, 1, 0, 0, 0, math.nan, round(lat * 1e7), round(lon * 1e7), alt_m
    )


def test_arming_refusals_say_why() -> None:
    vehicle = make_vehicle()
    boot(vehicle)
    vehicle.faults.refuse_arming("battery not charged")
    assert vehicle.commander.arm() == REJECTED
    assert vehicle.statustexts[-1][1] == "Preflight Fail: battery not charged"
    vehicle.faults.refuse_arming(None)
    vehicle.faults.battery_failure(5.0)
    run_for(vehicle, 0.1)
    assert vehicle.commander.arm() == REJECTED
    assert vehicle.statustexts[-1][1] == "Preflight Fail: battery critically low"
    assert vehicle.commander.arm(force=True) == ACCEPTED


def test_disarm_in_flight_needs_force_and_then_falls() -> None:
    vehicle = make_vehicle()
    take_off(vehicle, 20.0)
    assert vehicle.commander.disarm() == REJECTED
    assert vehicle.commander.disarm(force=True) == ACCEPTED
    run_until(vehicle, lambda v: v.airframe.on_ground, 10.0)
    assert not vehicle.state.armed


def test_mission_mode_can_be_refused_right_after_upload() -> None:
    vehicle = SimVehicle(SimConfig(home=PUEBLO, mission_holdoff_s=1.0))
    boot(vehicle)
    upload(vehicle, MISSION, [waypoint(vehicle, 0, 0, 50, 10)])
    assert vehicle.commander.request_mode(FlightMode.MISSION) == REJECTED
    run_for(vehicle, 1.0)
    assert vehicle.commander.request_mode(FlightMode.MISSION) == ACCEPTED


def test_mission_mode_needs_a_mission_and_orbit_needs_flight() -> None:
    vehicle = make_vehicle()
    boot(vehicle)
    assert vehicle.commander.request_mode(FlightMode.MISSION) == REJECTED
    assert vehicle.commander.request_mode(FlightMode.ORBIT) == REJECTED
    assert vehicle.commander.request_mode(FlightMode.OFFBOARD) == REJECTED
    assert vehicle.commander.request_mode(FlightMode.POSCTL) == ACCEPTED


def test_rtl_below_return_altitude_climbs_first() -> None:
    vehicle = make_vehicle(**FAST)
    take_off(vehicle, 10.0)
    goto(vehicle, 0.0, 300.0)
    run_until(vehicle, lambda v: v.airframe.y_m > 299.0 and v.airframe.ground_speed_m_s < 0.2, 60)
    vehicle.commander.return_to_launch()
    assert vehicle.rtl.phase is RtlPhase.CLIMB
    run_until(vehicle, lambda v: v.rtl.phase is RtlPhase.RETURN, 30.0)
    assert vehicle.airframe.z_m == pytest.approx(30.0, abs=1.0)  # RTL_RETURN_ALT
    assert vehicle.airframe.y_m == pytest.approx(300.0, abs=2.0)  # climbed in place
    run_until(vehicle, lambda v: not v.commander.armed, 200.0)
    assert math.hypot(vehicle.airframe.x_m, vehicle.airframe.y_m) < 1.0


def test_change_speed_applies_to_a_goto() -> None:
    vehicle = make_vehicle(**FAST)
    take_off(vehicle, 20.0)
    goto(vehicle, 0.0, 1000.0)
    run_for(vehicle, 20.0)
    assert vehicle.airframe.ground_speed_m_s == pytest.approx(20.0, abs=0.5)
    vehicle.navigator.speed_override_m_s = 8.0  # what DO_CHANGE_SPEED sets
    run_for(vehicle, 10.0)
    assert vehicle.airframe.ground_speed_m_s == pytest.approx(8.0, abs=0.2)


@pytest.mark.parametrize(("gf_action", "after"), [(4, "terminated"), (5, "landed")])
def test_fence_terminate_and_land_actions(gf_action: int, after: str) -> None:
    vehicle = make_vehicle(**FAST, GF_ACTION=gf_action)
    _exclusion_band(vehicle, 200.0, 400.0)
    take_off(vehicle, 30.0)
    goto(vehicle, 0.0, 500.0)  # the path crosses the band; the target does not lie in it
    run_until(vehicle, lambda v: v.commander.fence_breach is not None, 60.0)
    run_until(vehicle, lambda v: not v.commander.armed and v.airframe.on_ground, 120.0)
    run_for(vehicle, 0.1)
    state = vehicle.state
    assert state.landed
    if after == "terminated":
        assert state.terminated
        assert vehicle.telemetry.system_status() == 8  # MAV_STATE_FLIGHT_TERMINATION
    else:
        assert "Landing detected" in [t for _, t in vehicle.statustexts]


def test_gps_loss_descends_blind_and_drifts_with_the_wind() -> None:
    vehicle = SimVehicle(SimConfig(home=PUEBLO, wind_east_m_s=3.0))
    take_off(vehicle, 30.0)
    vehicle.faults.gps_loss()
    run_for(vehicle, 5.5)  # EKF2_NOAID_TOUT: the estimate lasts 5 s
    assert not vehicle.commander.position_valid
    assert vehicle.commander.mode is FlightMode.LAND
    start_east = vehicle.airframe.x_m
    run_until(vehicle, lambda v: not v.commander.armed, 120.0)
    assert vehicle.airframe.x_m - start_east > 20.0  # drifted downwind while descending


def test_link_loss_on_the_ground_only_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sitl.failsafe, "GCS_LOSS_WALL_S", 0.0)
    vehicle = make_vehicle(NAV_DLL_ACT=2)
    vehicle.failsafe.gcs.heard(0.0)
    run_for(vehicle, 12.0)
    assert vehicle.failsafe.gcs.lost
    assert vehicle.failsafe.pending is None
    assert vehicle.commander.mode is FlightMode.HOLD


def test_fence_upload_is_validated() -> None:
    vehicle = make_vehicle()
    lon, lat = vehicle.frame.to_lonlat(0, 100)
    item = MissionItem(
        0, 0, 5001, 0, 1, 4.0, 0, 0, 0, round(lat * 1e7), round(lon * 1e7), 0.0, FENCE
    )
    assert vehicle._validate_upload(FENCE, (item,)) != 0  # a 4-vertex polygon with one vertex


def _scripted_flight(vehicle: SimVehicle) -> None:
    """Commands at fixed vehicle times, from a step observer: no host timing involved."""
    t = round(vehicle.now_s, 2)
    c = vehicle.commander
    if t == 6.0:
        c.arm()
        c.takeoff(25.0)
    elif t == 45.0:
        a = vehicle.airframe
        c.reposition(Goal(a.x_m + 300.0, a.y_m + 200.0, 40.0), change_mode=True)
    elif t == 80.0:
        c.return_to_launch()


async def test_results_are_the_same_in_vehicle_time_at_any_speed() -> None:
    tracks = []
    for speed in (20.0, 60.0):
        track: list[tuple[float, float, float]] = []
        config = sim_config(speed_factor=speed, params=FAST)
        async with SimFleet.running([config]) as fleet:
            vehicle = fleet.vehicles[0]
            vehicle.add_step_observer(_scripted_flight)
            vehicle.add_step_observer(
                lambda v, track=track: (
                    track.append((v.airframe.x_m, v.airframe.y_m, v.airframe.z_m))
                    if v.step_count % 50 == 0
                    else None
                )
            )
            await vehicle.wait_until(lambda s: s.time_s >= 120.0, 120.0 / speed * 3 + 10)
        tracks.append(track[: int(120.0 / 0.02 / 50)])
    assert tracks[0] == tracks[1]


def test_mission_loiter_unlimited_holds_and_land_item_lands() -> None:
    vehicle = make_vehicle(**FAST)
    boot(vehicle)
    loiter = replace(waypoint(vehicle, 1, 0.0, 200.0, 30.0), command=17)  # LOITER_UNLIM
    takeoff = MissionItem(0, 6, 22, 1, 1, 0, 0, 0, math.nan, 0, 0, 20.0)
    upload(vehicle, MISSION, [takeoff, loiter])
    assert vehicle.commander.mission_start(0) == ACCEPTED
    run_until(
        vehicle, lambda v: v.airframe.y_m > 199.0 and v.airframe.ground_speed_m_s < 0.1, 120.0
    )
    run_for(vehicle, 30.0)
    assert vehicle.commander.mode is FlightMode.MISSION  # still loitering, never "finished"
    assert vehicle.mission_runner.current_seq == 1
    assert vehicle.airframe.y_m == pytest.approx(200.0, abs=1.0)

    land = MissionItem(1, 6, 21, 0, 1, 0, 0, 0, math.nan, loiter.x, loiter.y + 500, 0.0)
    vehicle.commander.request_mode(FlightMode.HOLD)
    upload(vehicle, MISSION, [takeoff, land])
    assert vehicle.commander.request_mode(FlightMode.MISSION) == ACCEPTED
    run_until(vehicle, lambda v: not v.commander.armed, 200.0)
    assert vehicle.state.landed
    assert vehicle.mission_runner.state.name == "COMPLETE"


def test_commands_arrive_as_command_long_and_int() -> None:
    from pymavlink.dialects.v20 import common as mavlink

    vehicle = make_vehicle(**FAST)
    take_off(vehicle, 30.0)
    mav = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    lon, lat = vehicle.frame.to_lonlat(0.0, 100.0)
    roi = mav.command_long_encode(
        1, 1, mavlink.MAV_CMD_DO_SET_ROI_LOCATION, 0, 0, 0, 0, 0, lat, lon, 0
    )
    speed = mav.command_long_encode(
        1, 1, mavlink.MAV_CMD_DO_CHANGE_SPEED, 0, 1, 7.0, -1, 0, 0, 0, 0
    )

    def orbit(frame: int) -> mavlink.MAVLink_command_int_message:
        return mav.command_int_encode(
            1, 1, frame, mavlink.MAV_CMD_DO_ORBIT, 0, 0, 25.0, 4.0, 0, math.nan,
            round(lat * 1e7), round(lon * 1e7), 1430.0 + 30.0,
        )  # fmt: skip

    for msg in (roi, speed):
        vehicle.commands.handle(msg, (255, 190))
    assert vehicle.navigator.roi == pytest.approx((0.0, 100.0), abs=0.01)
    assert vehicle.navigator.speed_override_m_s == 7.0
    # Like PX4: a COMMAND_INT in any frame but MAV_FRAME_GLOBAL_INT is refused.
    before = vehicle.commander.mode
    vehicle.commands.handle(orbit(mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT), (255, 190))
    assert vehicle.commander.mode is before
    vehicle.commands.handle(orbit(mavlink.MAV_FRAME_GLOBAL_INT), (255, 190))
    assert vehicle.commander.mode is FlightMode.ORBIT
    assert vehicle.navigator.orbit.z_m == pytest.approx(30.0)  # z is AMSL
    run_for(vehicle, 60.0)
    center = (0.0, 100.0)
    r = math.hypot(vehicle.airframe.x_m - center[0], vehicle.airframe.y_m - center[1])
    assert r == pytest.approx(25.0, abs=2.0)
