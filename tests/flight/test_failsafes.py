"""Link loss, battery failure and fence breach in flight: the vehicle's failsafe acts,
the sortie records what happened and why, and the drone ends on the ground."""

from __future__ import annotations

import asyncio
import time

from missions.geo import GeoPoint
from missions.mission_plan import GeofenceAction
from missions.sortie import Cause, SortieState
from sitl.modes import FlightMode as SimMode
from sitl.vehicle import SimVehicle
from stations.drone_link import DroneLink
from stations.fleet import Fleet, FleetSettings
from tests.flight.conftest import (
    HOME,
    area_around,
    eventually,
    executor,
    offset,
    reach,
    station,
    straight_route,
    wall_s,
)

S = SortieState


async def test_link_loss_is_detected_within_3_s_and_the_vehicle_comes_home(
    vehicle: SimVehicle,
) -> None:
    settings = FleetSettings(link_loss_s=1.0, watch_interval_s=0.1)
    async with Fleet.running([station("north", vehicle.mavlink_address)], settings) as fleet:
        await fleet.wait_online("north", timeout_s=wall_s(10.0))
        drone = fleet.drone("north")
        await drone.link.wait_ready(timeout_s=wall_s(10.0))  # type: ignore[union-attr]
        ex = executor(drone, straight_route(HOME, north_m=1500.0), link_loss_wall_s=1.0)
        async with asyncio.TaskGroup() as tg:
            flight = tg.create_task(ex.run())
            await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
            await vehicle.wait_until(lambda s: s.relative_altitude_m > 20.0, wall_s(30.0))

            vehicle.faults.link_loss(True)
            lost_at = time.monotonic()
            while fleet.availability("north").online:
                assert time.monotonic() - lost_at < 3.0, "link loss not detected within 3 s"
                await asyncio.sleep(0.05)
            assert not fleet.availability("north").online
            # The vehicle's own data-link-loss failsafe (NAV_DLL_ACT = return) brings it back.
            await vehicle.wait_until(lambda s: s.flight_mode is SimMode.RTL, wall_s(30.0))
            assert any(e.kind == "link_lost" for e in ex.sortie.events)

            vehicle.faults.link_loss(False)
            await fleet.wait_online("north", timeout_s=5.0)
            result = await flight

    assert result.final_state is S.DOCKED
    kinds = [e.kind for e in result.events]
    assert kinds.index("link_lost") < kinds.index("link_restored")
    returning = next(t for t in result.transitions if t.to_state is S.RETURNING)
    assert returning.cause is Cause.LINK
    assert vehicle.state.distance_to_m(HOME) < 5.0
    assert not vehicle.state.armed


async def test_battery_failure_makes_the_vehicle_return_and_is_recorded(
    vehicle: SimVehicle, link: DroneLink
) -> None:
    ex = executor(link, straight_route(HOME, north_m=1500.0))
    async with asyncio.TaskGroup() as tg:
        flight = tg.create_task(ex.run())
        await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
        await vehicle.wait_until(lambda s: s.relative_altitude_m > 30.0, wall_s(30.0))
        vehicle.faults.battery_failure(6.0)
        await reach(ex, S.RETURNING, vehicle_s=30.0)
        assert vehicle.state.flight_mode is SimMode.RTL
        result = await flight

    # Home, or short of it if the charge reached the emergency level (land at once).
    assert result.final_state in (S.DOCKED, S.LANDED)
    assert vehicle.state.landed
    assert not vehicle.state.armed
    returning = next(t for t in result.transitions if t.to_state is S.RETURNING)
    assert returning.cause is Cause.BATTERY
    assert {e.cause for e in result.events if e.kind == "failsafe"} == {Cause.BATTERY}
    assert any(e.kind == "low_battery" for e in result.events)
    assert result.timeline.on_scene_s is None


def route_through_a_no_fly_zone(north_m: float = 900.0):  # noqa: ANN201
    """A straight route whose leg crosses an exclusion square 500 m north of home."""
    zone = area_around(offset(HOME, 500.0, 0.0), 60.0)
    no_fly = type(zone)(zone.vertices, inclusion=False)
    return straight_route(HOME, north_m=north_m, exclusions=(no_fly,)), no_fly


async def test_fence_breach_holds_the_vehicle_and_is_recorded(
    vehicle: SimVehicle, link: DroneLink
) -> None:
    route, zone = route_through_a_no_fly_zone()
    ex = executor(link, route)  # GF_ACTION = hold, the default
    async with asyncio.TaskGroup() as tg:
        flight = tg.create_task(ex.run())
        await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
        held = await vehicle.wait_until(
            lambda s: s.fence_breach is not None and s.flight_mode is SimMode.HOLD,
            wall_s(120.0),
        )
        assert held.in_air
        # Like PX4: it overshoots into the zone, comes back to where it crossed the
        # boundary and holds there.
        edge = GeoPoint(min(v[0] for v in zone.vertices), HOME.longitude_deg)
        await vehicle.wait_until(
            lambda s: s.ground_speed_m_s < 0.5 and s.distance_to_m(edge) < 2.0,
            wall_s(60.0),
        )
        await eventually(
            "breach recorded", lambda: any(e.kind == "failsafe" for e in ex.sortie.events)
        )
        breach = [e for e in ex.sortie.events if e.kind == "fence_breach"]
        assert breach
        assert breach[0].cause is Cause.GEOFENCE
        failsafe = [e for e in ex.sortie.events if e.kind == "failsafe"]
        assert [e.cause for e in failsafe] == [Cause.GEOFENCE]
        assert ex.state is S.EN_ROUTE  # holding at the fence, waiting for the pilot
        await ex.return_home()
        result = await flight

    assert result.final_state is S.DOCKED
    assert vehicle.state.distance_to_m(HOME) < 5.0


async def test_fence_breach_with_return_action_comes_home_by_itself(
    vehicle: SimVehicle, link: DroneLink
) -> None:
    from missions.mission_plan import FlightSettings

    route, _ = route_through_a_no_fly_zone()
    ex = executor(link, route, flight=FlightSettings(geofence_action=GeofenceAction.RETURN))
    result = await asyncio.wait_for(ex.run(), wall_s(300.0))
    assert result.final_state is S.DOCKED
    returning = next(t for t in result.transitions if t.to_state is S.RETURNING)
    assert returning.cause is Cause.GEOFENCE
    assert result.timeline.on_scene_s is None
    assert vehicle.params.get("GF_ACTION") == 3
