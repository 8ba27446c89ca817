"""What a restarted server makes of a sortie the last run left open, by what the drone
shows: in the air (re-adopted), on its dock (closed, call requeued if its scene never
saw the drone), landed away (closed, out of service, kept so across restarts, alert).
Real SQLite, the simulator over real MAVSDK links, the whole operations service."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from importlib import resources
from pathlib import Path

from dfr.deployment import load_deployment
from dfr.operations import Operations
from dfr.services import Services, open_services
from dfr.settings import Settings
from dfr.store import NewCall, Store
from missions.geo import GeoPoint
from tests import simulator
from tests.flight.conftest import offset, wall_s

SCENE = (38.2590, -104.6050)
ALBUQUERQUE = Path(str(resources.files("dfr") / "data" / "albuquerque" / "albuquerque.toml"))


async def _left_open(
    db: Path, state: str, drone: tuple[str, str] = ("dfr-1", "hq")
) -> tuple[int, int]:
    """A previous run's sortie of a drone (hq's by default), last recorded in `state`,
    and its call."""
    async with Store.open(db) as store:
        await store.register_drones([("dfr-1", "hq"), ("dfr-2", "bessemer"), ("dfr-3", "eastside")])
        call = await store.add_call(NewCall(*SCENE, 1, "cad", "left open"), "disp")
        sortie = await store.reserve(*drone, call.id, "disp")
        assert sortie is not None
        await store.mark_launched(sortie.id, "disp")
        for step in ("launching", "en_route")[: ("launching", "en_route").index(state) + 1]:
            await store.record_sortie_state(sortie.id, step, "before the crash")
    return sortie.id, call.id


def _settings(tmp_path: Path) -> Settings:
    users = tmp_path / "users.toml"
    users.write_text("# no users\n")
    return Settings(state_dir=tmp_path, users_file=users, secret_key="test")


async def test_a_drone_landed_away_from_its_dock_closes_its_sortie_and_stays_out_of_service(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    sortie_id, call_id = await _left_open(settings.database_path, "en_route")
    hq = load_deployment().station("hq")
    vehicles = simulator.InProcessVehicles(homes={"hq": offset(hq.position, 300.0, 0.0)})
    deployment = replace(load_deployment(), launch_policy="immediate")
    async with (
        open_services(settings, deployment, vehicles) as services,
        Operations.running(services, settings) as ops,
    ):
        with ops.bus.subscribe() as events:
            async with asyncio.timeout(wall_s(60.0)):
                await ops.recovery.settled.wait()
            sortie = await ops.records.get_sortie(sortie_id)
            assert sortie.state == "landed"
            assert "from its dock" in sortie.events[-1].cause
            assert ops.fleet.availability("hq").maintenance
            # Its scene never saw the drone: the call went back to the queue and another
            # station's drone took it (the queue is served once the sortie is settled).
            async with asyncio.timeout(wall_s(30.0)):
                while (relief := await ops.records.sortie_for_call(call_id)) is None or (  # noqa: ASYNC110
                    relief.id == sortie_id
                ):
                    await asyncio.sleep(0.1)
            assert relief.station_id != "hq"
            alerts = [e.data["message"] for e in _drain(events) if e.kind == "alert"]
            assert any("taken out of service" in a for a in alerts)
            assert any(f"call {call_id} never saw the drone" in a for a in alerts)
    # A person must look at it: the next start keeps it out of service.
    async with (
        open_services(settings, deployment, simulator.InProcessVehicles()) as services,
        Operations.running(services, settings) as ops,
    ):
        assert ops.fleet.availability("hq").maintenance


async def test_a_sortie_left_launching_with_its_drone_on_the_dock_requeues_the_call(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    sortie_id, call_id = await _left_open(settings.database_path, "launching")
    deployment = replace(load_deployment(), launch_policy="immediate")
    async with (
        open_services(settings, deployment, simulator.InProcessVehicles()) as services,
        Operations.running(services, settings) as ops,
    ):
        async with asyncio.timeout(wall_s(60.0)):
            await ops.recovery.settled.wait()
        assert (await ops.records.get_sortie(sortie_id)).state == "docked"
        assert not ops.fleet.availability("hq").maintenance

        async def served() -> bool:
            latest = await ops.records.sortie_for_call(call_id)
            return latest is not None and latest.id != sortie_id

        async with asyncio.timeout(wall_s(60.0)):
            while not await served():  # noqa: ASYNC110 - a database row, nothing to await
                await asyncio.sleep(0.1)


async def _take_off(
    vehicles: simulator.InProcessVehicles, services: Services, station: str
) -> None:
    """The simulated drone of `station` takes off by itself (left flying by the last run),
    until the server's link sees it in the air."""
    vehicle = vehicles.by_station[station]
    await vehicle.wait_until(lambda s: s.position_valid, wall_s(30.0))
    assert vehicle.commander.arm(force=True) == 0
    vehicle.commander.takeoff(vehicle.navigator.home[2] + 30.0)
    async with asyncio.timeout(wall_s(30.0)):
        while not services.fleet.drone(station).state.in_air:  # noqa: ASYNC110 - telemetry
            await asyncio.sleep(0.05)


def _drain(events: asyncio.Queue) -> list:
    out = []
    while not events.empty():
        out.append(events.get_nowait())
    return out


async def test_a_sortie_recorded_docked_whose_drone_was_never_released_is_released(
    tmp_path: Path,
) -> None:
    """The server died between recording the landing and freeing the drone."""
    settings = _settings(tmp_path)
    sortie_id, _ = await _left_open(settings.database_path, "en_route")
    async with Store.open(settings.database_path) as store:
        await store.record_sortie_state(sortie_id, "landed", "on the ground")
        await store.record_sortie_state(sortie_id, "docked", "0.4 m from the dock")
        assert (await store.drone_sorties())["dfr-1"] == sortie_id
    deployment = replace(load_deployment(), launch_policy="immediate")
    async with (
        open_services(settings, deployment, simulator.InProcessVehicles()) as services,
        Operations.running(services, settings) as ops,
    ):
        async with asyncio.timeout(wall_s(60.0)):
            await ops.recovery.settled.wait()
        # Freed: its call never saw the scene, went back to the queue and took it again.
        assert (await services.store.drone_sorties())["dfr-1"] != sortie_id
        assert (await ops.records.get_sortie(sortie_id)).state == "docked"
        assert not ops.fleet.availability("hq").maintenance


async def test_a_drone_in_the_air_is_re_adopted_before_the_docked_ones_are_closed(
    tmp_path: Path,
) -> None:
    """Closing a docked sortie serves the queue (a launch); the pilot of the drone that
    flies waits for none of that."""
    settings = _settings(tmp_path)
    docked = [
        (await _left_open(settings.database_path, "launching", drone))[0]
        for drone in (("dfr-1", "hq"), ("dfr-2", "bessemer"))
    ]
    flying, _ = await _left_open(settings.database_path, "en_route", ("dfr-3", "eastside"))
    eastside = load_deployment().station("eastside")
    plan = load_deployment().planner.plan(eastside.position, GeoPoint(*SCENE))
    assert plan.route is not None
    async with Store.open(settings.database_path) as store:
        await store.record_sortie_route(flying, plan.route.as_geojson())
    vehicles = simulator.InProcessVehicles()
    deployment = replace(load_deployment(), launch_policy="immediate")
    async with open_services(settings, deployment, vehicles) as services:
        await _take_off(vehicles, services, "eastside")
        async with Operations.running(services, settings) as ops:
            async with asyncio.timeout(wall_s(60.0)):
                await ops.recovery.settled.wait()
            audit = await services.store.audit_log()
    order = [
        e.subject
        for e in audit
        if (e.action, e.actor) in {("sortie.adopt", "system"), ("sortie.release", "system")}
    ]
    assert order[0] == f"sortie:{flying}", order
    assert {f"sortie:{s}" for s in docked} <= set(order[1:]), order


async def test_a_re_adopted_mutual_aid_flight_keeps_its_agency_and_rule(tmp_path: Path) -> None:
    """BCSO's drone left flying to an Isleta call (mutual aid, pilot_confirm): the server
    that re-adopts it shows whose drone it is and under which rule it flies."""
    settings = _settings(tmp_path)
    deployment = load_deployment(ALBUQUERQUE)
    station = deployment.station("bcso-south-valley")
    scene = GeoPoint(35.0200, -106.6000)  # Isleta's jurisdiction
    plan = deployment.planner.plan(station.position, scene)
    assert plan.route is not None
    async with Store.open(settings.database_path) as store:
        await store.register_drones([(s.drone.id, s.id) for s in deployment.stations])
        call = await store.add_call(
            NewCall(scene.latitude_deg, scene.longitude_deg, 1, "cad", "aid", agency="isleta"),
            "disp",
        )
        sortie = await store.reserve(station.drone.id, station.id, call.id, "disp")
        assert sortie is not None
        await store.mark_launched(sortie.id, "bcso-pilot")
        await store.record_sortie_route(sortie.id, plan.route.as_geojson())
        for step in ("launching", "en_route"):
            await store.record_sortie_state(sortie.id, step, "before the crash")
    vehicles = simulator.InProcessVehicles()
    async with open_services(settings, deployment, vehicles) as services:
        await _take_off(vehicles, services, station.id)
        async with Operations.running(services, settings) as ops:
            async with asyncio.timeout(wall_s(60.0)):
                await ops.recovery.settled.wait()
            adopted = ops.runner.board.for_station(station.id)
            assert adopted is not None
            assert adopted.record.id == sortie.id
            assert (adopted.agency, adopted.mutual_aid) == ("bcso", "pilot_confirm")
