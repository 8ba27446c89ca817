"""Faults of the link while a drone flies, through the whole operations service: the
vehicle goes silent and comes back, and the drone's mavsdk_server is killed. The
sortie is never given up for them, the other drones are never marked offline, and
the drone is free again once it is down. Real SQLite, real MAVSDK links, the
simulator's fault injection."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from dfr.active_sorties import ActiveSortie
from dfr.auth import Principal, Role
from dfr.deployment import load_deployment
from dfr.flight_executor import FlightResult
from dfr.operations import Operations
from dfr.pilot_commands import PilotCommand
from dfr.services import open_services
from dfr.settings import Settings
from dfr.store import NewCall
from missions.sortie import Cause, SortieState
from sitl.modes import FlightMode as SimMode
from tests import simulator
from tests.flight.conftest import eventually, reach, wall_s

DISPATCHER = Principal("disp", Role.DISPATCHER)
PILOT = Principal("pilot", Role.PILOT)
SCENE = (38.2740, -104.5990)  # 1.2 km from hq
S = SortieState


@dataclass
class Watch:
    """What the test saw of the fleet while it ran."""

    ended: list[FlightResult] = field(default_factory=list)
    others_offline: int = 0


@asynccontextmanager
async def flying(tmp_path: Path) -> AsyncIterator[tuple[Operations, ActiveSortie, Watch, object]]:
    """hq's drone en route to SCENE, the other two docked and watched."""
    users = tmp_path / "users.toml"
    users.write_text("# no users\n")
    settings = Settings(
        state_dir=tmp_path, users_file=users, secret_key="test", link_lost_after_s=1.0
    )
    vehicles = simulator.InProcessVehicles()
    deployment = replace(load_deployment(), launch_policy="immediate")
    watch = Watch()

    def ended(active: ActiveSortie, result: FlightResult) -> None:
        watch.ended.append(result)

    async with (
        open_services(settings, deployment, vehicles) as services,
        Operations.running(services, settings, on_flight_ended=ended) as ops,
    ):
        await ops.wait_docks_prepared(wall_s(60.0))
        call = await ops.calls.create_call(NewCall(*SCENE, 1, "test"), DISPATCHER.name)
        result = await ops.dispatch(call.id, DISPATCHER, "hq")
        assert result.sortie is not None
        active = ops.board.get(result.sortie.id)
        assert active is not None
        assert active.executor is not None
        await reach(active.executor, S.EN_ROUTE, vehicle_s=30.0)
        others = asyncio.create_task(_count_others_offline(ops, watch))
        try:
            yield ops, active, watch, vehicles.by_station["hq"]
        finally:
            others.cancel()


async def _count_others_offline(ops: Operations, watch: Watch) -> None:
    while True:
        watch.others_offline += sum(
            1 for s in ("bessemer", "eastside") if not ops.fleet.availability(s).online
        )
        await asyncio.sleep(0.05)


async def test_a_silent_vehicle_comes_home_by_itself_and_the_sortie_ends_on_its_dock(
    tmp_path: Path,
) -> None:
    async with flying(tmp_path) as (ops, active, watch, vehicle):
        executor = active.executor
        assert executor is not None
        vehicle.faults.link_loss(True)
        await eventually("hq marked offline", lambda: not ops.fleet.availability("hq").online)
        # The deployment's data-link-loss action: the vehicle returns on its own.
        await eventually(
            "the vehicle returns by itself",
            lambda: vehicle.state.flight_mode is SimMode.RTL,
            wall_s(60.0),
        )
        vehicle.faults.link_loss(False)
        await eventually("hq back online", lambda: ops.fleet.availability("hq").online, 30.0)
        assert await reach(executor, S.DOCKED, S.FAULT, vehicle_s=300.0) is S.DOCKED
        kinds = [e.kind for e in executor.sortie.events]
        assert "link_lost" in kinds
        assert "link_restored" in kinds
        returning = next(t for t in executor.sortie.transitions if t.to_state is S.RETURNING)
        assert returning.cause is Cause.LINK
        await eventually("the sortie's end recorded", lambda: bool(watch.ended), 10.0)
        assert (await ops.records.get_sortie(active.record.id)).state == "docked"
        assert watch.others_offline == 0


async def test_a_killed_mavsdk_server_is_replaced_and_the_pilot_keeps_command(
    tmp_path: Path,
) -> None:
    async with flying(tmp_path) as (ops, active, watch, _):
        executor = active.executor
        assert executor is not None
        old = ops.fleet.link("hq").server_pid
        assert old is not None
        os.kill(old, signal.SIGKILL)

        def replaced() -> bool:
            drone = ops.fleet.drone("hq")
            return drone.online and drone.link is not None and drone.link.server_pid != old

        await eventually("a new mavsdk_server for hq", replaced, 30.0)
        await _until_accepted(ops, PilotCommand("hold"))
        await _until_accepted(ops, PilotCommand("return"))
        try:
            await reach(executor, S.DOCKED, S.FAULT, vehicle_s=300.0)
        except AssertionError as exc:
            texts = [t.text for t in ops.fleet.state("hq").status_texts]
            raise AssertionError(f"{exc}; the vehicle said: {texts}") from None
        assert executor.state is S.DOCKED
        assert watch.others_offline == 0
        await eventually("hq free again", lambda: ops.board.for_station("hq") is None, 10.0)
        assert (await ops.records.get_sortie(active.record.id)).state == "docked"


async def _until_accepted(ops: Operations, command: PilotCommand) -> None:
    """Send until the drone takes it (the executor may still be picking up the new link)."""
    refusals: list[str] = []
    try:
        async with asyncio.timeout(30.0):
            while True:
                try:
                    await ops.command("dfr-1", command, PILOT)
                    return
                except Exception as exc:  # noqa: BLE001 - refused for now: no link yet
                    refusals.append(repr(exc))
                    await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"{command.command} refused: {refusals[-3:]}") from None
