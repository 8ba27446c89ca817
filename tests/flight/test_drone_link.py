"""The drone link against the simulator: parameters, transfers, commands, shared telemetry."""

from __future__ import annotations

import asyncio
import os

import pytest
from pymavlink.dialects.v20 import common as mavlink

from missions.drone_state import DroneState, FlightMode, LandedState
from missions.mission_plan import ParamSetting, ParamType, build_mission, item_differences
from missions.profile import DroneProfile
from sitl.fleet import SimFleet
from sitl.vehicle import SimVehicle
from stations.drone_link import CommandRefused, DroneLink, LinkClosed
from tests.flight.conftest import HOME, eventually, offset, sim_config, straight_route, wall_s


async def test_telemetry_snapshot_and_vehicle_clock(vehicle: SimVehicle, link: DroneLink) -> None:
    state = link.state
    assert state.health.all_ok
    assert state.position is not None
    assert state.position.point.distance_m(HOME) < 1.0
    assert state.home is not None
    assert state.home.absolute_altitude_m == pytest.approx(1430.0, abs=0.1)
    assert state.landed_state is LandedState.ON_GROUND
    assert state.flight_mode is FlightMode.HOLD
    assert state.battery_pct == pytest.approx(100.0, abs=1.0)
    assert state.gps_fix_type >= 3
    assert state.vehicle_time_s is not None
    # The link's clock is the vehicle's, a few telemetry periods behind at most (a
    # loaded machine delays delivery; at the test's speed factor 10 s is half a second).
    assert 0.0 <= vehicle.state.time_s - state.vehicle_time_s < 10.0
    # Many readers, one subscription: concurrent waiters all see the next samples.
    later = state.vehicle_time_s + 1.0
    seen = await asyncio.gather(
        *(
            link.wait_for(lambda s: (s.vehicle_time_s or 0) >= later, wall_s(2.0), "clock")
            for _ in range(5)
        )
    )
    assert all(s.vehicle_time_s >= later for s in seen)


async def test_the_link_asks_for_the_position_rate_it_can_keep_up_with() -> None:
    # PX4 streams GLOBAL_POSITION_INT at 50 Hz on its API link, as this vehicle does
    # until asked; a server tracking many drones (or many vehicle seconds per wall
    # second) fell behind such a stream and flew on stale positions.
    position, attitude = mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, mavlink.MAVLINK_MSG_ID_ATTITUDE
    async with (
        SimFleet.single(sim_config(fast_stream_hz=50.0)) as vehicle,
        DroneLink.connect("north-drone", vehicle.mavlink_address) as link,
    ):
        await link.wait_ready(timeout_s=wall_s(10.0))
        await eventually(
            "the vehicle streams positions at the link's rate",
            lambda: vehicle.telemetry.interval_s(position) == pytest.approx(0.1),
            wall_s(10.0),
        )
        assert vehicle.telemetry.interval_s(attitude) == pytest.approx(0.02)  # not asked
        start = link.state.vehicle_time_s
        assert start is not None
        seen = set()

        def two_seconds_later(state: DroneState) -> bool:
            seen.add(state.vehicle_time_s)
            return (state.vehicle_time_s or 0.0) >= start + 2.0

        await link.wait_for(two_seconds_later, wall_s(5.0), "two vehicle seconds")
        assert 10 <= len(seen) <= 2 * 10 + 2


async def test_parameters_keep_their_px4_type(vehicle: SimVehicle, link: DroneLink) -> None:
    await link.set_param(ParamSetting("MPC_XY_CRUISE", 17.5, ParamType.FLOAT))
    await link.set_param(ParamSetting("GF_ACTION", 3, ParamType.INT32))
    assert await link.get_param("MPC_XY_CRUISE", ParamType.FLOAT) == 17.5
    assert await link.get_param("GF_ACTION", ParamType.INT32) == 3
    assert vehicle.params.get("GF_ACTION") == 3
    with pytest.raises(CommandRefused):
        await link.get_param("GF_ACTION", ParamType.FLOAT)


async def test_mission_and_fence_read_back_equal(vehicle: SimVehicle, link: DroneLink) -> None:
    route = straight_route(HOME, north_m=700.0, turn=(300.0, 200.0))
    plan = build_mission(route, DroneProfile("d", "udpin://127.0.0.1:0"), on_scene_s=30.0)
    assert await link.download_fence() == ()
    await link.upload_fence(plan.fence)
    await link.upload_mission(plan.mission)
    assert item_differences(plan.fence, await link.download_fence()) == ()
    assert item_differences(plan.mission, await link.download_mission()) == ()
    assert vehicle.state.mission_count == len(plan.mission)
    await link.upload_fence(())
    assert await link.download_fence() == ()


async def test_roi_reaches_the_vehicle(vehicle: SimVehicle, link: DroneLink) -> None:
    await link.set_roi(offset(HOME, 100.0, 50.0))
    assert vehicle.navigator.roi is not None
    x_m, y_m = vehicle.navigator.roi
    assert (x_m, y_m) == (pytest.approx(50.0, abs=0.5), pytest.approx(100.0, abs=0.5))
    await link.clear_roi()
    assert vehicle.navigator.roi is None


async def test_close_twice_stops_the_server_and_later_calls_fail(vehicle: SimVehicle) -> None:
    drone = await DroneLink.open("north-drone", vehicle.mavlink_address)
    pid = drone.server_pid
    assert pid is not None
    await drone.close()
    await drone.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert drone.closed
    with pytest.raises(LinkClosed):
        await drone.arm()
    with pytest.raises(LinkClosed):
        await drone.changed(timeout_s=1.0)
