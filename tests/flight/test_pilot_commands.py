"""Pilot commands change what the simulated vehicle really does, and the sortie follows."""

from __future__ import annotations

import asyncio

import pytest

from dfr.flight_errors import CommandNotAllowed
from missions.sortie import Cause, SortieState
from sitl.modes import FlightMode as SimMode
from sitl.state import VehicleState
from sitl.vehicle import SimVehicle
from stations.drone_link import DroneLink
from tests.flight.conftest import HOME, executor, offset, reach, straight_route, wall_s

S = SortieState


async def until(vehicle: SimVehicle, what: str, predicate, vehicle_s: float) -> VehicleState:  # noqa: ANN001
    try:
        return await vehicle.wait_until(predicate, timeout_s=wall_s(vehicle_s))
    except TimeoutError:
        raise AssertionError(f"vehicle never {what}: {vehicle.state}") from None


async def test_hold_resume_orbit_reposition_return_resume_land(
    vehicle: SimVehicle, link: DroneLink
) -> None:
    route = straight_route(HOME, north_m=800.0)
    scene = route.point_of_interest
    ex = executor(link, route, on_scene_s=None)  # loiter until told otherwise
    with pytest.raises(CommandNotAllowed):
        await ex.hold()
    async with asyncio.TaskGroup() as tg:
        flight = tg.create_task(ex.run())
        await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
        await until(vehicle, "cruised", lambda s: s.ground_speed_m_s > 8.0, 30.0)

        await ex.hold()
        held = await until(vehicle, "stopped", lambda s: s.ground_speed_m_s < 0.5, 20.0)
        assert held.flight_mode is SimMode.HOLD
        assert ex.state is S.EN_ROUTE

        await ex.resume()
        assert vehicle.state.flight_mode is SimMode.MISSION
        await until(vehicle, "moved on", lambda s: s.ground_speed_m_s > 5.0, 20.0)
        await reach(ex, S.ON_SCENE, vehicle_s=90.0)

        await ex.orbit(40.0)
        circling = await until(
            vehicle,
            "circled the scene",
            lambda s: (
                s.flight_mode is SimMode.ORBIT
                and abs(s.distance_to_m(scene) - 40.0) < 3.0
                and s.ground_speed_m_s > 3.0
            ),
            60.0,
        )
        assert circling.in_air

        spot = offset(scene, 0.0, 150.0)
        await ex.reposition(spot, 50.0)
        there = await until(
            vehicle,
            "repositioned",
            lambda s: s.distance_to_m(spot) < 3.0 and abs(s.relative_altitude_m - 50.0) < 1.0,
            60.0,
        )
        assert there.flight_mode is SimMode.HOLD
        assert vehicle.navigator.roi is not None  # camera back on the scene

        await ex.return_home()
        assert ex.state is S.RETURNING
        await until(vehicle, "headed home", lambda s: s.flight_mode is SimMode.RTL, 5.0)
        await until(vehicle, "left the spot", lambda s: s.distance_to_m(spot) > 50.0, 30.0)

        await ex.resume()
        assert ex.state is S.EN_ROUTE
        await reach(ex, S.ON_SCENE, vehicle_s=60.0)

        await ex.land()
        await until(vehicle, "landed", lambda s: s.landed and not s.armed, 120.0)
        result = await flight

    assert result.final_state is S.LANDED  # on the ground at the scene, not on the dock
    assert vehicle.state.distance_to_m(scene) < 10.0
    assert not [e for e in result.events if e.kind == "failsafe"]
    pilot = [e.kind for e in result.events if e.cause is Cause.PILOT]
    assert pilot == [
        "pilot_hold", "pilot_resume", "pilot_orbit", "pilot_reposition",
        "pilot_return", "pilot_resume", "pilot_land",
    ]  # fmt: skip
    assert result.events[-1].kind == "landed_away"
    with pytest.raises(CommandNotAllowed):
        await ex.hold()


async def test_abort_in_flight_returns_home(vehicle: SimVehicle, link: DroneLink) -> None:
    ex = executor(link, straight_route(HOME, north_m=600.0))
    async with asyncio.TaskGroup() as tg:
        flight = tg.create_task(ex.run())
        await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
        await until(vehicle, "climbed", lambda s: s.relative_altitude_m > 15.0, 30.0)
        await ex.abort()
        assert ex.state is S.ABORTED
        await until(vehicle, "returned", lambda s: s.flight_mode is SimMode.RTL, 5.0)
        result = await flight
    assert result.final_state is S.DOCKED
    assert [t.to_state for t in result.transitions][-3:] == [S.ABORTED, S.LANDED, S.DOCKED]
    assert result.reason == "pilot abort: returning home"
    assert result.timeline.on_scene_s is None
    assert vehicle.state.distance_to_m(HOME) < 5.0
    assert not vehicle.state.armed


async def test_abort_before_takeoff_never_leaves_the_dock(
    vehicle: SimVehicle, link: DroneLink
) -> None:
    ex = executor(link, straight_route(HOME, north_m=600.0))
    peak: list[float] = [0.0]
    remove = vehicle.add_step_observer(
        lambda v: peak.__setitem__(0, max(peak[0], v.state.relative_altitude_m))
    )
    async with asyncio.TaskGroup() as tg:
        flight = tg.create_task(ex.run())
        await reach(ex, S.LAUNCHING, vehicle_s=5.0)
        with pytest.raises(CommandNotAllowed, match="launching, not airborne; abort stops"):
            await ex.return_home()  # nothing to return from: the pilot is told to abort
        await ex.abort()
        result = await flight
    remove()
    assert result.final_state is S.DOCKED
    assert S.ABORTED in [t.to_state for t in result.transitions]
    assert S.EN_ROUTE not in [t.to_state for t in result.transitions]
    assert peak[0] < 0.5
    assert not vehicle.state.armed
