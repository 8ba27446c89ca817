"""The fleet against simulated drones: availability, link loss, reconnection, maintenance."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from dfr.loopback import free_udp_port
from sitl.fleet import SimFleet
from stations.drone_link import LinkSettings
from stations.fleet import DockState, Fleet, FleetSettings
from tests.flight.conftest import (
    HOME,
    eventually,
    offset,
    sim_config,
    station,
    wall_s,
)

SETTINGS = FleetSettings(
    link=LinkSettings(connect_timeout_s=2.0),
    link_loss_s=1.0,
    watch_interval_s=0.1,
    reconnect_delay_s=0.2,
)


async def test_availability_of_two_docked_drones_and_an_unreachable_one() -> None:
    east = offset(HOME, 0.0, 3000.0)
    configs = [sim_config(instance=0), sim_config(instance=1, home=east)]
    async with SimFleet.running(configs) as sims:
        stations = [
            station("north", sims.vehicles[0].mavlink_address),
            station("east", sims.vehicles[1].mavlink_address, position=east),
            station("ghost", f"udpin://127.0.0.1:{free_udp_port()}"),
        ]
        async with Fleet.running(stations, SETTINGS) as fleet:
            await fleet.wait_online("north", timeout_s=wall_s(10.0))
            await fleet.wait_online("east", timeout_s=wall_s(10.0))
            await eventually(
                "health ok",
                lambda: fleet.availability("north").healthy and fleet.availability("east").healthy,
                timeout_s=wall_s(10.0),
            )
            north, east_a, ghost = (fleet.availability(s) for s in ("north", "east", "ghost"))
            assert north.online
            assert north.docked
            assert north.dock_state is DockState.DOCKED
            assert north.battery_pct == 100.0
            assert north.telemetry_age_s is not None
            assert north.telemetry_age_s < 1.0
            assert east_a.online
            assert east_a.docked
            assert not ghost.online
            assert not ghost.docked
            assert ghost.reason is not None
            assert ghost.reason.startswith("offline")
            # Each drone is its own vehicle: two links never show the same one.
            assert fleet.state("east").position is not None
            assert fleet.state("east").position.point.distance_m(east) < 5.0
            assert fleet.state("north").position.point.distance_m(HOME) < 5.0
            assert set(fleet.availabilities()) == {"north", "east", "ghost"}

            fleet.set_maintenance("east", True)
            east_a = fleet.availability("east")
            assert east_a.dock_state is DockState.MAINTENANCE
            assert east_a.maintenance
            assert not east_a.docked


async def test_link_loss_on_the_dock_goes_offline_and_comes_back(vehicle) -> None:  # noqa: ANN001
    async with Fleet.running([station("north", vehicle.mavlink_address)], SETTINGS) as fleet:
        await fleet.wait_online("north", timeout_s=wall_s(10.0))
        vehicle.faults.link_loss(True)
        lost_at = time.monotonic()
        await eventually("offline", lambda: not fleet.availability("north").online, 3.0)
        assert time.monotonic() - lost_at < 3.0
        assert "no telemetry" in (fleet.availability("north").reason or "")
        vehicle.faults.link_loss(False)
        await fleet.wait_online("north", timeout_s=5.0)
        assert fleet.drone("north").link_lost_count == 1


async def test_a_dead_mavsdk_server_is_replaced(vehicle) -> None:  # noqa: ANN001
    async with Fleet.running([station("north", vehicle.mavlink_address)], SETTINGS) as fleet:
        first = await fleet.wait_online("north", timeout_s=wall_s(10.0))
        pid = first.server_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # the server this fleet started, by its id
        await eventually("old link closed", lambda: first.closed, 5.0)
        second = await fleet.wait_online("north", timeout_s=10.0)
        assert second is not first
        assert second.server_pid != pid
        state = await second.wait_for(lambda s: s.position is not None, 5.0, "position")
        assert state.position is not None
    await asyncio.sleep(0)
    assert first.closed
    assert second.closed


async def test_a_leased_fleet_links_a_drone_only_while_permitted() -> None:
    async with SimFleet.running([sim_config(instance=0)]) as sims:
        stations = [station("north", sims.vehicles[0].mavlink_address)]
        async with Fleet.running(stations, SETTINGS, leased=True) as first:
            await asyncio.sleep(SETTINGS.reconnect_delay_s * 3)
            assert not first.availability("north").online
            assert first.availability("north").reason == "offline: linked by another server"
            first.permit("north")
            await first.wait_online("north", timeout_s=wall_s(10.0))
            first.revoke("north")
            await eventually(
                "link dropped", lambda: first.drone("north").link is None, timeout_s=wall_s(10.0)
            )
            assert not first.availability("north").online
            # Its port free again, another server's fleet links the same drone.
            async with Fleet.running(stations, SETTINGS, leased=True) as second:
                second.permit("north")
                await second.wait_online("north", timeout_s=wall_s(20.0))
                assert first.drone("north").link is None
