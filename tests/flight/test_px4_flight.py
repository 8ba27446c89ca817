"""The flight executor on real PX4 SITL (SIH): what the simulator alone showed before,
on the autopilot itself: pilot commands change what PX4 does, the mission and fence
read back equal to what was uploaded, the deployment's data-link-loss setting is what
PX4 does without dfr, and a critical battery brings the drone home.

Needs a PX4 build named by DFR_PX4_DIR (run in a loopback-only network namespace);
reported as skipped without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from dfr.flight_executor import FlightExecutor
from missions.drone_state import DroneState, FlightMode
from missions.mission_plan import FlightSettings, LinkLossAction, item_differences
from missions.qgc_plan import export_plan, fence_features, plan_items
from missions.sortie import Cause, SortieState
from stations.drone_link import DroneLink, LinkSettings
from tests import simulator
from tests.flight.conftest import (
    HOME,
    HOME_ALT_AMSL_M,
    eventually,
    executor,
    offset,
    straight_route,
)

pytestmark = simulator.PX4_MARKS
S = SortieState
SPEED = simulator.PX4_SPEED_FACTOR
WAYS = ("uploaded", "read_back")


def px4_wall_s(vehicle_s: float) -> float:
    """Vehicle seconds to wall seconds on PX4 SITL, with room for a slow machine."""
    return vehicle_s / SPEED * 2.0 + 20.0


@asynccontextmanager
async def px4(params: Mapping[str, float] | None = None) -> AsyncIterator[tuple[str, DroneLink]]:
    from sitl.px4_launcher import px4_sitl

    homes = [(HOME, HOME_ALT_AMSL_M)]
    async with (
        px4_sitl(homes, speed_factor=SPEED, params=params) as found,
        DroneLink.connect("px4", found[0], LinkSettings()) as link,
    ):
        await link.wait_ready(timeout_s=90.0)
        yield found[0], link


async def until(
    link: DroneLink, what: str, predicate: Callable[[DroneState], bool], vehicle_s: float
) -> DroneState:
    try:
        return await link.wait_for(predicate, px4_wall_s(vehicle_s), what)
    except Exception as exc:  # noqa: BLE001 - say what the vehicle showed
        raise AssertionError(f"PX4 never {what}: {link.state}") from exc


async def reach(ex: FlightExecutor, *states: SortieState, vehicle_s: float) -> SortieState:
    try:
        return await ex.wait_for_state(*states, timeout_s=px4_wall_s(vehicle_s))
    except TimeoutError:
        raise AssertionError(
            f"sortie still {ex.state}: {[(t.to_state, t.detail) for t in ex.sortie.transitions]}"
            f" {[(e.kind, e.detail) for e in ex.sortie.events]}"
        ) from None


def _speed(s: DroneState) -> float:
    return s.ground_speed_m_s or 0.0


async def test_pilot_commands_and_read_back_on_px4() -> None:
    route = straight_route(HOME, north_m=700.0)
    scene = route.point_of_interest
    async with px4() as (_, link):
        ex = executor(link, route, on_scene_s=None)
        async with asyncio.TaskGroup() as tg:
            flight = tg.create_task(ex.run())
            await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
            # Verified by PX4's checksum before the launch, read back once flying.
            await eventually("the read-back", lambda: bool(ex.transfers), px4_wall_s(20.0))
            for kind in ("mission", "fence"):
                sent, back = ex.transfers[kind]["uploaded"], ex.transfers[kind]["read_back"]
                assert sent
                assert not item_differences(sent, back), kind
            # The QGroundControl plan dfr exports is what PX4 holds, item for item.
            home = (HOME.latitude_deg, HOME.longitude_deg, HOME_ALT_AMSL_M)
            sent, held = ({k: ex.transfers[k][way] for k in ex.transfers} for way in WAYS)
            exported = export_plan(held["mission"], held["fence"], home, 18.0)
            planned = export_plan(sent["mission"], sent["fence"], home, 18.0)
            assert plan_items(exported) == plan_items(planned)
            assert fence_features(exported) == fence_features(planned)
            await until(link, "cruised", lambda s: _speed(s) > 8.0, 40.0)

            await ex.hold()
            held = await until(link, "stopped", lambda s: _speed(s) < 0.7, 30.0)
            assert held.flight_mode is FlightMode.HOLD
            await ex.resume()
            await reach(ex, S.ON_SCENE, vehicle_s=120.0)

            await ex.orbit(40.0)
            await until(
                link,
                "circled the scene",
                lambda s: (
                    s.position is not None
                    and abs(s.position.point.distance_m(scene) - 40.0) < 8.0
                    and _speed(s) > 2.0
                ),
                90.0,
            )
            spot = offset(scene, 0.0, 120.0)
            await ex.reposition(spot, 50.0)
            await until(
                link,
                "repositioned",
                lambda s: s.position is not None and s.position.point.distance_m(spot) < 5.0,
                90.0,
            )
            await ex.return_home()
            assert ex.state is S.RETURNING
            await until(
                link, "headed home", lambda s: s.flight_mode is FlightMode.RETURN_TO_LAUNCH, 10.0
            )
            result = await flight
    assert result.final_state is S.DOCKED
    pilot = [e.kind for e in result.events if e.cause is Cause.PILOT]
    assert pilot == [
        "pilot_hold", "pilot_resume", "pilot_orbit", "pilot_reposition", "pilot_return",
    ], [(e.kind, e.detail) for e in result.events if e.cause is Cause.PILOT]  # fmt: skip
    assert not [e for e in result.events if e.kind == "failsafe"]


async def test_the_deployments_link_loss_setting_is_what_px4_does_without_dfr() -> None:
    hold_after_5_s = FlightSettings(link_loss_action=LinkLossAction.HOLD, link_loss_timeout_s=5)
    async with px4() as (address, link):
        ex = executor(link, straight_route(HOME, north_m=1500.0), flight=hold_after_5_s)
        async with asyncio.TaskGroup() as tg:
            flight = tg.create_task(ex.run())
            await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
            await until(link, "cruised", lambda s: _speed(s) > 8.0, 40.0)
            await link.close()  # dfr is gone: PX4 hears no ground station
            result = await flight
        assert result.final_state is S.FAULT  # this executor had nothing to reconnect with
        await asyncio.sleep(px4_wall_s(10.0) - 20.0)
        async with DroneLink.connect("px4", address, LinkSettings()) as back:
            hovering = await until(
                back, "held on link loss", lambda s: s.flight_mode is FlightMode.HOLD, 30.0
            )
            assert hovering.in_air
            await until(back, "stopped", lambda s: _speed(s) < 0.7, 30.0)
            await back.return_to_launch()
            await until(back, "landed", lambda s: not s.armed and not s.in_air, 300.0)


async def test_a_critical_battery_brings_the_drone_home_on_px4() -> None:
    # PX4's simulated battery drains 1 % a second while armed, down to 6 %: under the
    # critical threshold (7 %), above the emergency one (5 %).
    drain = {"SIM_BAT_DRAIN": 100.0, "SIM_BAT_MIN_PCT": 6.0}
    async with px4(drain) as (_, link):
        ex = executor(link, straight_route(HOME, north_m=900.0), on_scene_s=None)
        result = await asyncio.wait_for(ex.run(), px4_wall_s(400.0))
    assert result.final_state is S.DOCKED
    kinds = [e.kind for e in result.events]
    assert "low_battery" in kinds
    returning = next(t for t in result.transitions if t.to_state is S.RETURNING)
    assert returning.cause is Cause.BATTERY, returning


async def test_a_fence_breach_holds_the_drone_and_the_pilot_brings_it_home_on_px4() -> None:
    from tests.flight.test_failsafes import route_through_a_no_fly_zone

    route, _ = route_through_a_no_fly_zone()  # GF_ACTION = hold, the deployment default
    async with px4() as (_, link):
        ex = executor(link, route)
        async with asyncio.TaskGroup() as tg:
            flight = tg.create_task(ex.run())
            await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
            held = await until(
                link,
                "held at the fence",
                lambda s: s.flight_mode is FlightMode.HOLD and _speed(s) < 0.7,
                120.0,
            )
            assert held.in_air
            failsafes = [e for e in ex.sortie.events if e.kind == "failsafe"]
            assert [e.cause for e in failsafes] == [Cause.GEOFENCE], [
                (e.kind, e.cause, e.detail) for e in ex.sortie.events
            ]
            assert ex.state is S.EN_ROUTE  # holding, waiting for the pilot
            await ex.abort()
            assert ex.state is S.ABORTED
            result = await flight
    assert result.final_state is S.DOCKED
    assert [e.kind for e in result.events if e.cause is Cause.PILOT] == ["pilot_abort"]


async def test_the_pilot_lands_the_drone_where_it_is_on_px4() -> None:
    async with px4() as (_, link):
        ex = executor(link, straight_route(HOME, north_m=700.0), on_scene_s=None)
        async with asyncio.TaskGroup() as tg:
            flight = tg.create_task(ex.run())
            await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
            await until(
                link,
                "150 m out",
                lambda s: s.position is not None and s.position.point.distance_m(HOME) > 150.0,
                60.0,
            )
            await ex.land()
            await until(link, "landing", lambda s: s.flight_mode is FlightMode.LAND, 10.0)
            result = await asyncio.wait_for(flight, px4_wall_s(150.0))
    # Not "docked": PX4 moved its home to where it landed, the dock did not move.
    assert result.final_state is S.LANDED, [(t.to_state, t.detail) for t in result.transitions]
    down = link.state
    assert not down.armed
    assert down.position is not None
    assert down.position.point.distance_m(HOME) > 150.0
    assert [e.kind for e in result.events if e.cause is Cause.PILOT] == ["pilot_land"]


async def test_a_drone_sent_to_new_scenes_in_flight_on_px4() -> None:
    """En route, then again while returning: PX4 takes the new mission and fence in
    flight, flies to each new scene without landing, and comes home."""
    from tests.flight.test_retarget import route_from

    first_scene, second_scene = offset(HOME, 500.0, 600.0), offset(HOME, 200.0, -400.0)
    async with px4() as (_, link):
        ex = executor(link, straight_route(HOME, north_m=1200.0), on_scene_s=5.0)
        async with asyncio.TaskGroup() as tg:
            flight = tg.create_task(ex.run())
            await reach(ex, S.EN_ROUTE, vehicle_s=30.0)
            await until(link, "cruised", lambda s: _speed(s) > 8.0, 40.0)
            await ex.retarget(route_from(ex.position, first_scene))  # type: ignore[arg-type]
            assert ex.state is S.EN_ROUTE
            await reach(ex, S.ON_SCENE, vehicle_s=120.0)
            assert link.state.position is not None
            assert link.state.position.point.distance_m(first_scene) < 20.0

            await reach(ex, S.RETURNING, vehicle_s=60.0)
            await ex.retarget(route_from(ex.position, second_scene))  # type: ignore[arg-type]
            assert ex.state is S.EN_ROUTE
            await reach(ex, S.ON_SCENE, vehicle_s=120.0)
            assert link.state.position.point.distance_m(second_scene) < 20.0
            result = await flight
    assert result.final_state is S.DOCKED
    assert [e.kind for e in result.events].count("retargeted") == 2
    assert set(ex.transfers) >= {"mission", "fence", "mission_1", "mission_2"}
    for kind in ("mission", "fence"):
        sent, back = ex.transfers[kind]["uploaded"], ex.transfers[kind]["read_back"]
        assert back
        assert not item_differences(sent, back), kind
    assert not [e for e in result.events if e.kind in ("failsafe", "retarget_failed")]
