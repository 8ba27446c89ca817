"""A whole sortie against the simulator over real UDP: verify, arm, fly, loiter, return, land."""

from __future__ import annotations

import asyncio

from missions.mission_plan import MavCmd, item_differences
from missions.route import Fence, FenceCircle
from missions.sortie import SortieState
from sitl.fleet import SimFleet
from sitl.mission_items import FENCE, MISSION
from sitl.modes import FlightMode as SimMode
from sitl.vehicle import SimVehicle
from stations.drone_link import DroneLink
from tests.flight.conftest import HOME, executor, reach, sim_config, straight_route, wall_s

S = SortieState


async def test_full_sortie_from_dock_to_scene_and_back(
    vehicle: SimVehicle, link: DroneLink
) -> None:
    route = straight_route(HOME, north_m=1000.0, east_m=200.0, turn=(500.0, 300.0))
    ex = executor(link, route, on_scene_s=15.0)
    climbing_while_cruising: list[tuple[float, float]] = []

    def watch(v: SimVehicle) -> None:
        s = v.state
        if s.in_air and 12.0 < s.relative_altitude_m < 55.0:
            climbing_while_cruising.append((s.relative_altitude_m, s.ground_speed_m_s))

    remove = vehicle.add_step_observer(watch)
    async with asyncio.TaskGroup() as tg:
        flight = tg.create_task(ex.run())
        await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
        # What the vehicle holds is what the plan says, before it flew.
        assert vehicle.params.get("MPC_XY_CRUISE") == 18.0  # cruise, under the 20 m/s limit
        assert vehicle.params.get("MPC_XY_VEL_MAX") == 20.0
        assert vehicle.params.get("MPC_Z_V_AUTO_UP") == 5.0
        assert vehicle.params.get("NAV_DLL_ACT") == 2
        assert vehicle.params.get("RTL_RETURN_ALT") == 60.0
        assert item_differences(ex.plan.mission, vehicle.missions.get(MISSION)) == ()
        assert item_differences(ex.plan.fence, vehicle.missions.get(FENCE)) == ()
        await reach(ex, S.ON_SCENE, vehicle_s=120.0)
        at_scene = vehicle.state
        assert at_scene.flight_mode is SimMode.MISSION
        assert at_scene.distance_to_m(route.target.point) < 15.0
        assert abs(at_scene.relative_altitude_m - 60.0) < 3.0
        await reach(ex, S.RETURNING, vehicle_s=40.0)
        result = await flight
    remove()

    assert result.final_state is S.DOCKED
    end = vehicle.state
    assert not end.armed
    assert end.landed
    assert end.distance_to_m(HOME) < 5.0
    assert [t.to_state for t in result.transitions] == [
        S.LAUNCHING, S.EN_ROUTE, S.ON_SCENE, S.RETURNING, S.LANDED, S.DOCKED,
    ]  # fmt: skip
    timeline = result.timeline
    assert timeline.in_order()
    assert timeline.dispatch_to_armed_s is not None
    assert timeline.dispatch_to_on_scene_s is not None
    # On scene: the loiter (15 s) ran before the mission's RTL item.
    assert timeline.returning_s is not None
    assert timeline.returning_s - timeline.dispatch_s >= timeline.dispatch_to_on_scene_s + 10.0
    # Climb while cruising: the vehicle was well above walking pace between 12 and 55 m.
    assert max(speed for _, speed in climbing_while_cruising) > 10.0
    kinds = [e.kind for e in result.events]
    assert kinds[0] == "dock_setup_not_used"  # no dock preparation here: all at dispatch
    assert set(kinds[1:3]) == {"params_verified", "upload_verified"}  # done side by side
    assert kinds[3:5] == ["armed", "mission_started"]
    # Verified by the vehicle's checksum before the launch, read back once flying.
    upload = next(e for e in result.events if e.kind == "upload_verified")
    assert "mission items (checksum" in upload.detail
    assert "fence items (checksum" in upload.detail
    for kind in ("mission", "fence"):
        ways = ex.transfers[kind]
        assert item_differences(ways["uploaded"], ways["read_back"]) == ()
    m = result.measurement
    assert m.route_length_m == route.length_m
    assert 0 < m.dispatch_to_armed_s < m.dispatch_to_takeoff_s < m.dispatch_to_on_scene_s
    assert 15.0 < m.cruise_speed_m_s <= 20.5
    assert m.flown_to_scene_m > route.length_m * 0.9
    assert ex.plan.mission[ex.plan.roi_index].command == MavCmd.DO_SET_ROI_LOCATION


async def test_a_fence_the_vehicle_refuses_is_a_fault_and_the_drone_stays_on_the_dock(
    vehicle: SimVehicle, link: DroneLink
) -> None:
    # A circle fence of radius 0 is refused by the vehicle's fence check.
    route = straight_route(HOME, north_m=300.0)
    bad = type(route)(
        route.waypoints, route.length_m,
        Fence(route.fence.polygons, (FenceCircle(HOME, 0.0, False),)),
        route.point_of_interest, cruise_altitude_m=60.0,
    )  # fmt: skip
    result = await asyncio.wait_for(executor(link, bad).run(), wall_s(30.0))
    assert result.final_state is S.FAULT
    assert "upload fence" in (result.reason or "")
    assert not vehicle.state.armed
    assert vehicle.state.landed


async def test_an_upload_lost_on_a_busy_link_is_tried_again_and_the_drone_flies(
    vehicle: SimVehicle, link: DroneLink
) -> None:
    # An upload's start and all of MAVSDK's own retries of it (five in all) are lost.
    vehicle.faults.lose_upload_starts(5)
    ex = executor(link, straight_route(HOME, north_m=300.0))
    async with asyncio.TaskGroup() as tg:
        flight = tg.create_task(ex.run())
        await reach(ex, S.EN_ROUTE, vehicle_s=60.0)
        await ex.abort()
        result = await flight
    assert vehicle.mission_transfer.lost_upload_starts == 5
    retried = [e for e in result.events if e.kind == "upload_retried"]
    assert len(retried) == 1, result.events
    assert "TIMEOUT" in retried[0].detail
    assert result.final_state is S.DOCKED
    assert item_differences(ex.plan.mission, vehicle.missions.get(MISSION)) == ()
    assert item_differences(ex.plan.fence, vehicle.missions.get(FENCE)) == ()


async def test_a_link_that_loses_every_upload_is_a_fault_after_the_second_try(
    vehicle: SimVehicle, link: DroneLink
) -> None:
    vehicle.faults.lose_upload_starts(1000)
    result = await asyncio.wait_for(
        executor(link, straight_route(HOME, north_m=300.0)).run(), wall_s(60.0)
    )
    assert result.final_state is S.FAULT
    assert "TIMEOUT" in (result.reason or "")
    assert [e.kind for e in result.events].count("upload_retried") == 1
    assert vehicle.mission_transfer.lost_upload_starts == 10  # two tries of five
    assert not vehicle.state.armed


async def test_refused_arming_is_a_fault(vehicle: SimVehicle, link: DroneLink) -> None:
    vehicle.faults.refuse_arming("battery not charged")
    result = await asyncio.wait_for(
        executor(link, straight_route(HOME, north_m=300.0)).run(), wall_s(30.0)
    )
    assert result.final_state is S.FAULT
    assert "mission start refused" in (result.reason or "")
    assert "Preflight Fail: battery not charged" in (result.reason or "")
    assert not vehicle.state.armed


async def test_mission_start_is_retried_while_the_vehicle_refuses_mission_mode() -> None:
    # Like PX4 right after an upload: MISSION mode refused for a moment, then accepted.
    async with (
        SimFleet.single(sim_config(mission_holdoff_s=6.0)) as sim,
        DroneLink.connect("north-drone", sim.mavlink_address) as drone,
    ):
        await drone.wait_ready(timeout_s=wall_s(10.0))
        ex = executor(drone, straight_route(HOME, north_m=300.0))
        for setting in ex.plan.params:  # already applied: upload to arm takes ~3 s
            await drone.set_param(setting)
        async with asyncio.TaskGroup() as tg:
            flight = tg.create_task(ex.run())
            await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
            await ex.abort()
            result = await flight
    started = next(e for e in result.events if e.kind == "mission_started")
    assert started.detail != "after 1 attempt(s)"
    assert result.final_state is S.DOCKED
