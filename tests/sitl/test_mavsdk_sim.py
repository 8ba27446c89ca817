"""MAVSDK against the simulator where ground truth or fault injection is needed.

Refusals (arming before healthy, idle auto-disarm), hold/RTL/orbit, a full mission,
the failsafes (data-link loss, low battery, GPS loss, geofence breach) and a
three-vehicle fleet. Vehicle-time figures come from the vehicle itself.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

import sitl.failsafe
from missions.geo import GeoPoint
from sitl.fleet import SimFleet
from sitl.modes import FlightMode as Mode
from sitl.vehicle import SimVehicle
from tests.sitl.conftest import PUEBLO, PUEBLO_ALT_M, SIM_SPEED, Backend, sim_config
from tests.sitl.mavsdk_client import (
    ActionError,
    FenceType,
    FixType,
    FlightMode,
    GeofenceData,
    LandedState,
    OrbitYawBehavior,
    Point,
    Polygon,
    System,
    connected_drone,
    first,
)
from tests.sitl.test_contract import item, offset, take_off


def wall(vehicle_s: float, speed: float = SIM_SPEED) -> float:
    return vehicle_s / speed * 2.0 + 10.0


async def status_texts(drone: System, sink: list[str]) -> None:
    async for text in drone.telemetry.status_text():
        sink.append(text.text)


async def flying(vehicle: SimVehicle, drone: System, altitude_m: float = 20.0, **params: float):
    """Set parameters over MAVSDK, arm and take off; returns when at altitude."""
    for name, value in params.items():
        if vehicle.params.type_of(name) == 6:
            await drone.param.set_param_int(name, int(value))
        else:
            await drone.param.set_param_float(name, float(value))
    await take_off(drone, Backend("sim", vehicle.mavlink_address, SIM_SPEED, vehicle), altitude_m)


async def goto(drone: System, north_m: float, east_m: float, alt_m: float = 20.0) -> GeoPoint:
    target = offset(PUEBLO, north_m, east_m)
    await drone.action.goto_location(
        target.latitude_deg, target.longitude_deg, PUEBLO_ALT_M + alt_m, float("nan")
    )
    return target


async def test_arming_is_refused_until_healthy(profile) -> None:
    # mavsdk_server only starts once it has heard the vehicle, so boot slowly.
    async with SimFleet.single(sim_config(speed_factor=1.0)) as vehicle:
        texts: list[str] = []
        async with connected_drone(vehicle.mavlink_address) as drone, asyncio.TaskGroup() as group:
            collector = group.create_task(status_texts(drone, texts))
            assert vehicle.now_s < 4.0
            refused = 0
            async with asyncio.timeout(10.0):
                while True:
                    try:
                        await drone.action.arm()
                        break
                    except ActionError:
                        refused += 1
                        await asyncio.sleep(0.05)
            armed_at = vehicle.now_s
            collector.cancel()
    assert refused >= 1
    assert any(t.startswith("Preflight Fail") for t in texts)
    low, high = profile["measured"]["timings_s"]["boot_to_armable"]
    assert low <= armed_at <= high + 0.5


async def test_idle_armed_vehicle_disarms_itself(sim: SimVehicle, profile) -> None:
    async with connected_drone(sim.mavlink_address) as drone:
        await first(drone.telemetry.health(), lambda h: h.is_armable, wall(15))
        await drone.action.arm()
        await first(drone.telemetry.armed(), lambda armed: not armed, wall(30))
    armed = next(t for t, text in sim.statustexts if text == "Armed by external command")
    disarmed = next(t for t, text in sim.statustexts if text.startswith("Disarmed by auto"))
    idle = profile["measured"]["timings_s"]["idle_armed_auto_disarm"]
    assert disarmed - armed == pytest.approx(idle, abs=0.5)


async def test_hold_stops_a_return_and_rtl_resumes(sim: SimVehicle) -> None:
    """HOLD from RTL stops at once. (HOLD while a goto flies changes nothing: the goto
    already runs in HOLD, and PX4 ignores a switch to the mode it is in.)"""
    async with connected_drone(sim.mavlink_address) as drone:
        await flying(sim, drone, MPC_XY_CRUISE=15.0)
        await goto(drone, 300.0, 0.0)
        await sim.wait_until(lambda s: s.north_m > 295.0 and s.ground_speed_m_s < 0.5, wall(60))
        await drone.action.return_to_launch()
        await first(drone.telemetry.flight_mode(), lambda m: m is FlightMode.RETURN_TO_LAUNCH, 5.0)
        await sim.wait_until(lambda s: s.north_m < 200.0, wall(60))
        await drone.action.hold()
        stopped = await sim.wait_until(lambda s: s.ground_speed_m_s < 0.3, wall(20))
        assert stopped.flight_mode is Mode.HOLD
        assert stopped.north_m > 100.0
        await drone.action.return_to_launch()
        await first(drone.telemetry.armed(), lambda armed: not armed, wall(150))
        landed = await first(drone.telemetry.landed_state(), lambda s: True, 5.0)
        assert landed is LandedState.ON_GROUND
    assert sim.state.distance_to_m(PUEBLO) < 2.0


async def test_mavsdk_do_orbit_is_refused_for_its_frame_as_px4_refuses_it(sim: SimVehicle) -> None:
    """MAVSDK sends DO_ORBIT as COMMAND_INT in MAV_FRAME_GLOBAL_RELATIVE_ALT; PX4 takes
    COMMAND_INT in MAV_FRAME_GLOBAL_INT only and answers UNSUPPORTED_MAV_FRAME (MAVSDK:
    UNKNOWN). dfr sends its own DO_ORBIT (tests/flight: the orbit circles the scene)."""
    async with connected_drone(sim.mavlink_address) as drone:
        await flying(sim, drone)
        center = offset(PUEBLO, 80.0, 0.0)
        yaw = OrbitYawBehavior.HOLD_FRONT_TO_CIRCLE_CENTER
        with pytest.raises(ActionError) as refused:
            await drone.action.do_orbit(
                30.0, 5.0, yaw, center.latitude_deg, center.longitude_deg, PUEBLO_ALT_M + 25.0
            )
        assert "UNKNOWN" in str(refused.value)


async def test_mission_flies_items_and_returns(sim: SimVehicle) -> None:
    north, corner, roi = offset(PUEBLO, 200, 0), offset(PUEBLO, 200, 200), offset(PUEBLO, 400, 400)
    mission = [
        item(0, 22, PUEBLO, 20.0),
        item(1, 178, param1=1.0, param2=8.0, param3=-1.0),  # DO_CHANGE_SPEED 8 m/s
        item(2, 16, north, 20.0, param4=float("nan")),
        item(3, 195, roi, 0.0),  # DO_SET_ROI_LOCATION: face the ROI from here on
        item(4, 16, corner, 30.0, param4=float("nan")),
        item(5, 20),  # NAV_RETURN_TO_LAUNCH
    ]
    top_speed = [0.0]
    headings: list[tuple[float, GeoPoint]] = []

    def watch(v: SimVehicle) -> None:
        if v.mission_runner.current_seq == 2:
            top_speed[0] = max(top_speed[0], v.airframe.ground_speed_m_s)
        if v.mission_runner.current_seq == 4 and v.now_s % 1.0 < 0.02:
            s = v.state
            headings.append((s.heading_deg, s.position))

    sim.add_step_observer(watch)
    async with connected_drone(sim.mavlink_address) as drone:
        await drone.mission_raw.upload_mission(mission)
        await first(drone.telemetry.health(), lambda h: h.is_armable, wall(15))
        await drone.action.arm()
        await drone.mission_raw.start_mission()
        progress = await first(drone.mission_raw.mission_progress(),
                               lambda p: p.current == p.total, wall(200))  # fmt: skip
        assert progress.total == len(mission)
        await first(drone.telemetry.flight_mode(), lambda m: m is FlightMode.RETURN_TO_LAUNCH, 10.0)
        await first(drone.telemetry.armed(), lambda armed: not armed, wall(200))
    assert top_speed[0] == pytest.approx(8.0, abs=0.3)
    late = headings[len(headings) // 2 :]
    assert late
    for heading, where in late:
        assert abs((heading - where.bearing_deg(roi) + 180.0) % 360.0 - 180.0) < 10.0
    assert sim.state.distance_to_m(PUEBLO) < 2.0


async def test_datalink_loss_triggers_return(sim: SimVehicle) -> None:
    async with connected_drone(sim.mavlink_address) as drone:
        await flying(sim, drone, NAV_DLL_ACT=2, COM_DL_LOSS_T=5, MPC_XY_CRUISE=10.0)
        await goto(drone, 400.0, 0.0)
        await sim.wait_until(lambda s: s.north_m > 100.0, wall(30))
        sim.faults.link_loss()
        lost = await sim.wait_until(
            lambda s: s.flight_mode is Mode.RTL, sitl.failsafe.GCS_LOSS_WALL_S + wall(20)
        )
        assert lost.failsafe == "no connection to ground station"
        assert "Connection to ground station lost" in [t for _, t in sim.statustexts]
        await sim.wait_until(lambda s: not s.armed, wall(200))
        sim.faults.link_loss(False)
        await first(drone.core.connection_state(), lambda s: s.is_connected, 10.0)
        assert await first(drone.telemetry.armed(), lambda a: True, 5.0) is False
    assert sim.state.distance_to_m(PUEBLO) < 2.0


async def test_low_battery_returns_then_lands(sim: SimVehicle) -> None:
    texts: list[str] = []
    async with connected_drone(sim.mavlink_address) as drone:
        await flying(sim, drone, COM_LOW_BAT_ACT=3)
        await goto(drone, 200.0, 0.0)
        async with asyncio.TaskGroup() as group:
            collector = group.create_task(status_texts(drone, texts))
            await asyncio.sleep(0.3)  # let the subscription start before the fault
            sim.faults.battery_failure(6.0)
            battery = await first(
                drone.telemetry.battery(), lambda b: b.remaining_percent <= 7, wall(5)
            )
            assert battery.remaining_percent >= 5
            await first(
                drone.telemetry.flight_mode(), lambda m: m is FlightMode.RETURN_TO_LAUNCH, wall(10)
            )
            sim.faults.battery_failure(4.0)
            await first(drone.telemetry.flight_mode(), lambda m: m is FlightMode.LAND, wall(5))
            await asyncio.sleep(0.3)
            collector.cancel()
    assert any(t.startswith("Critical battery level") for t in texts)
    assert any(t.startswith("Emergency battery level") for t in texts)


async def test_gps_loss_lands_the_vehicle(sim: SimVehicle) -> None:
    async with connected_drone(sim.mavlink_address) as drone:
        await flying(sim, drone)
        sim.faults.gps_loss()
        gps = await first(
            drone.telemetry.gps_info(), lambda g: g.fix_type is FixType.NO_GPS, wall(5)
        )
        assert gps.num_satellites == 0
        await first(drone.telemetry.health(), lambda h: not h.is_global_position_ok, wall(5))
        await first(drone.telemetry.flight_mode(), lambda m: m is FlightMode.LAND, wall(15))
        await first(drone.telemetry.armed(), lambda armed: not armed, wall(80))
    assert not sim.state.position_valid


@pytest.mark.parametrize(("gf_action", "mode"), [(2, Mode.HOLD), (3, Mode.RTL)])
async def test_fence_breach_action(sim: SimVehicle, gf_action: int, mode: Mode) -> None:
    band = [offset(PUEBLO, n, e) for n, e in ((300, -300), (300, 300), (500, 300), (500, -300))]
    fence = GeofenceData(
        polygons=[
            Polygon([Point(p.latitude_deg, p.longitude_deg) for p in band], FenceType.EXCLUSION)
        ],
        circles=[],
    )
    async with connected_drone(sim.mavlink_address) as drone:
        await drone.geofence.upload_geofence(fence)
        await flying(sim, drone, GF_ACTION=gf_action, MPC_XY_CRUISE=20.0, MPC_XY_VEL_MAX=20.0)
        await goto(drone, 800.0, 0.0)
        breach_at: list[float] = []
        sim.add_step_observer(
            lambda v: (
                breach_at.append(v.airframe.y_m)
                if v.commander.fence_breach and not breach_at
                else None
            )
        )
        await sim.wait_until(lambda s: s.fence_breach is not None, wall(60))
        assert breach_at[0] == pytest.approx(300.0, abs=1.0)
        await sim.wait_until(lambda s: s.flight_mode is mode, wall(10))
        if mode is Mode.HOLD:
            # Like PX4 without GF_PREDICT: back to where the breach was seen, and held there.
            await sim.wait_until(
                lambda s: s.ground_speed_m_s < 0.1 and abs(s.north_m - breach_at[0]) < 2.0,
                wall(60),
            )
            assert (
                await first(drone.telemetry.flight_mode(), lambda m: True, 5.0) is FlightMode.HOLD
            )
        else:
            await first(drone.telemetry.armed(), lambda armed: not armed, wall(200))
            assert sim.state.distance_to_m(PUEBLO) < 2.0


async def test_fleet_of_three_in_one_process() -> None:
    homes = [PUEBLO, offset(PUEBLO, 3000, 0), offset(PUEBLO, 0, 3000)]
    configs = [sim_config(home=home, instance=i) for i, home in enumerate(homes)]
    async with SimFleet.running(configs) as fleet, AsyncExitStack() as stack:
        drones = [
            await stack.enter_async_context(connected_drone(v.mavlink_address))
            for v in fleet.vehicles
        ]
        for drone, home in zip(drones, homes, strict=True):
            p = await first(drone.telemetry.position(), lambda p: True, 5.0)
            assert GeoPoint(p.latitude_deg, p.longitude_deg).distance_m(home) < 2.0
        await first(drones[1].telemetry.health(), lambda h: h.is_armable, wall(15))
        await drones[1].action.arm()
        assert [v.state.armed for v in fleet.vehicles] == [False, True, False]
        assert [v.config.system_id for v in fleet.vehicles] == [1, 2, 3]
        assert fleet.achieved_speed_factor > SIM_SPEED / 3  # a loaded test host slows it
