"""A drone sent to a new target in flight, against the simulator over MAVLink: the new
fence and mission go up while it flies, are verified and read back, the mission goes
on from its first leg without landing, and the drone ends on its dock."""

from __future__ import annotations

import asyncio

import pytest

from dfr.flight_errors import CommandNotAllowed
from missions.geo import GeoPoint
from missions.mission_plan import item_differences
from missions.sortie import Cause, SortieState
from sitl.vehicle import SimVehicle
from stations.drone_link import DroneLink, LinkError, LinkSettings
from tests.flight.conftest import HOME, executor, offset, reach, straight_route

S = SortieState


def route_from(here: GeoPoint, scene: GeoPoint):  # noqa: ANN201
    """A straight route from where the drone is to `scene`."""
    dlat_m = (scene.latitude_deg - here.latitude_deg) * 111_320.0
    probe = offset(here, 0.0, 1000.0)
    dlon_m = (scene.longitude_deg - here.longitude_deg) / (probe.longitude_deg - here.longitude_deg)
    return straight_route(here, north_m=dlat_m, east_m=dlon_m * 1000.0)


def on_the_vehicle(ex, link_items) -> None:  # noqa: ANN001
    assert not item_differences(ex.plan.mission, link_items)


async def test_retarget_en_route_flies_to_the_new_scene_and_home(
    vehicle: SimVehicle, link: DroneLink
) -> None:
    ex = executor(link, straight_route(HOME, north_m=1500.0), on_scene_s=10.0)
    new_scene = offset(HOME, 500.0, 700.0)
    async with asyncio.TaskGroup() as tg:
        flight = tg.create_task(ex.run())
        await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
        await vehicle.wait_until(lambda s: s.north_m > 300.0, 60.0)
        first_mission = ex.plan.mission
        here = ex.position
        assert here is not None
        await ex.retarget(route_from(here, new_scene))

        assert ex.state is S.EN_ROUTE
        assert ex.plan.mission != first_mission
        # The vehicle holds the new mission, and it is under way past the takeoff item.
        on_the_vehicle(ex, await link.download_mission())
        assert link.state.mission_current > ex.plan.takeoff_index
        assert vehicle.state.armed
        assert vehicle.state.in_air

        await reach(ex, S.ON_SCENE, vehicle_s=120.0)
        assert vehicle.state.distance_to_m(new_scene) < 20.0
        result = await flight

    assert result.final_state is S.DOCKED
    assert vehicle.state.distance_to_m(HOME) < 5.0
    retargeted = [e for e in result.events if e.kind == "retargeted"]
    assert len(retargeted) == 1
    assert retargeted[0].cause is Cause.DISPATCH
    # What went up first is kept beside what flies now, each with its read-back.
    assert set(ex.transfers) == {"mission", "fence", "mission_1", "fence_1"}
    assert ex.transfers["mission_1"]["uploaded"] == first_mission
    for kind in ("mission", "fence"):
        sent = ex.transfers[kind]
        assert sent["read_back"]
        assert not item_differences(sent["uploaded"], sent["read_back"])
    states = [t.to_state for t in result.transitions]
    assert states.count(S.ON_SCENE) == 1  # reached once: the new scene


async def test_retarget_while_returning_sends_it_back_out(
    vehicle: SimVehicle, link: DroneLink
) -> None:
    ex = executor(link, straight_route(HOME, north_m=600.0), on_scene_s=2.0)
    new_scene = offset(HOME, 300.0, -500.0)
    async with asyncio.TaskGroup() as tg:
        flight = tg.create_task(ex.run())
        await reach(ex, S.RETURNING, vehicle_s=150.0)
        here = ex.position
        assert here is not None
        await ex.retarget(route_from(here, new_scene))
        assert ex.state is S.EN_ROUTE
        await reach(ex, S.ON_SCENE, vehicle_s=120.0)
        assert vehicle.state.distance_to_m(new_scene) < 20.0
        result = await flight

    assert result.final_state is S.DOCKED
    assert vehicle.state.distance_to_m(HOME) < 5.0
    states = [t.to_state for t in result.transitions]
    assert states[states.index(S.RETURNING) + 1] is S.EN_ROUTE


async def test_a_drone_on_its_dock_is_not_retargeted(link: DroneLink) -> None:
    ex = executor(link, straight_route(HOME, north_m=600.0))
    with pytest.raises(CommandNotAllowed):
        await ex.retarget(straight_route(HOME, north_m=300.0))
    assert ex.transfers == {}


async def test_a_retarget_the_vehicle_never_gets_leaves_the_sortie_as_it_was(
    vehicle: SimVehicle,
) -> None:
    """The link drops during the upload: retarget raises, says so on the sortie, and the
    sortie keeps its plan and its state; when the link is back the vehicle still flies
    its first mission (or holds, if the hold got through)."""
    settings = LinkSettings(transfer_timeout_s=2.0, command_timeout_s=1.0)
    async with DroneLink.connect("north-drone", vehicle.mavlink_address, settings) as link:
        await link.wait_ready(timeout_s=10.0)
        ex = executor(link, straight_route(HOME, north_m=1500.0), on_scene_s=5.0)
        async with asyncio.TaskGroup() as tg:
            flight = tg.create_task(ex.run())
            await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
            first_mission = ex.plan.mission
            here = ex.position
            assert here is not None
            vehicle.faults.link_loss(True)
            with pytest.raises(LinkError):
                await ex.retarget(route_from(here, offset(HOME, 400.0, 600.0)))
            assert ex.plan.mission == first_mission
            # Still on its way, or already coming home by PX4's own link-loss action.
            assert ex.state in (S.EN_ROUTE, S.RETURNING)
            assert [e.kind for e in ex.sortie.events].count("retarget_failed") == 1
            assert "retargeted" not in [e.kind for e in ex.sortie.events]
            vehicle.faults.link_loss(False)
            await ex.return_home()
            result = await flight
    assert result.final_state is S.DOCKED
