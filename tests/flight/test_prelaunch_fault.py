"""A drone whose link fails before launch: the sortie ends in FAULT with the reason, the
drone is released and taken out of service, the pilots are alerted, and the call goes
to the next station (or back to the queue). Real SQLite, real MAVSDK links, the
simulator's fault injection."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from dfr.auth import Principal, Role
from dfr.deployment import load_deployment
from dfr.flight_executor import ExecutorSettings, FlightExecutor
from dfr.loopback import free_udp_port
from dfr.operations import Operations
from dfr.services import open_services
from dfr.settings import Settings
from dfr.store import NewCall
from missions.sortie import SortieState
from stations.drone_link import LinkSettings
from stations.fleet import Fleet, FleetSettings
from tests import simulator
from tests.flight.conftest import SIM_SPEED, eventually, station, straight_route, wall_s

DISPATCHER = Principal("disp", Role.DISPATCHER)
NEAR_HQ = (38.2640, -104.6080)


async def test_no_link_before_launch_ends_in_fault_instead_of_raising() -> None:
    settings = FleetSettings(link=LinkSettings(connect_timeout_s=0.3), reconnect_delay_s=0.1)
    ghost = station("ghost", f"udpin://127.0.0.1:{free_udp_port()}")
    async with Fleet.running([ghost], settings) as fleet:
        ex = FlightExecutor(
            fleet.drone("ghost"),
            straight_route(ghost.position, 500.0),
            ghost.drone,
            20.0,
            call_id="7",
            station_id="ghost",
            settings=ExecutorSettings(ready_timeout_wall_s=0.5),
        )
        result = await ex.run()
    assert result.final_state is SortieState.FAULT
    assert result.reason is not None
    assert "no usable link before launch" in result.reason
    assert [t.to_state for t in result.transitions] == [SortieState.LAUNCHING, SortieState.FAULT]


async def test_link_failure_before_launch_hands_the_call_to_the_next_station(
    tmp_path: Path,
) -> None:
    users = tmp_path / "users.toml"
    users.write_text("# no users\n")
    settings = Settings(
        state_dir=tmp_path, users_file=users, secret_key="test", link_lost_after_s=2.0
    )
    vehicles = simulator.InProcessVehicles(SIM_SPEED)
    deployment = replace(load_deployment(None), launch_policy="immediate")
    async with (
        open_services(settings, deployment, vehicles) as services,
        Operations.running(services, settings) as ops,
    ):
        await ops.wait_docks_prepared(wall_s(60.0))
        with ops.bus.subscribe() as events:
            call = await ops.calls.create_call(NewCall(*NEAR_HQ, 1, "test"), DISPATCHER.name)
            first = await ops.recommend_call(call.id)
            assert first.candidates[0].station_id == "hq"
            # The vehicle goes silent now; the fleet has not noticed yet when we dispatch.
            vehicles.by_station["hq"].faults.link_loss()
            result = await ops.dispatch(call.id, DISPATCHER)
            assert result.sortie is not None
            assert result.sortie.station_id == "hq"

            async def handed_on() -> bool:
                latest = await ops.records.sortie_for_call(call.id)
                return latest is not None and latest.station_id != "hq"

            async with asyncio.timeout(60.0):
                while not await handed_on():  # noqa: ASYNC110 - a database row, nothing to await
                    await asyncio.sleep(0.1)
            alerts = []
            while not events.empty():
                event = events.get_nowait()
                if event.kind == "alert":
                    alerts.append(event.data)

        failed = await ops.records.get_sortie(result.sortie.id)
        assert failed.state == "fault"
        assert any("fault" in a["message"] and a["station_id"] == "hq" for a in alerts)
        assert any(f"call {call.id} is back in the queue" in a["message"] for a in alerts)
        assert ops.fleet.availability("hq").maintenance
        assert (await services.store.drone_sorties())["dfr-1"] is None
        relief = await ops.records.sortie_for_call(call.id)
        assert relief is not None
        assert relief.station_id in {"bessemer", "eastside"}
        await eventually("the relief drone launches", lambda: relief.id in ops.board, 5.0)
