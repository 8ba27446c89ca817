"""A re-task the flying drone never takes falls back to the next drone on its dock: the
dispatch still sends a drone to the urgent call, says why it is not the one ranked
first, and the flying drone holds for the pilot (through the operations service on the
built-in simulator, the link to the flying drone cut during the in-flight upload)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dfr.auth import Principal, Role
from dfr.deployment import load_deployment
from dfr.flight_errors import CommandNotAllowed
from dfr.pilot_commands import PilotCommand
from dfr.store import NewCall
from missions.sortie import SortieState
from stations.drone_link import LinkError
from tests.deployments import edited_pueblo
from tests.flight.conftest import eventually, operations_on_simulator, wall_s

PILOT = Principal("pilot", Role.PILOT)
NOISE = (38.2590, -104.6050)
SHOTS = (38.2620, -104.6010)  # ~500 m from the noise complaint


async def test_a_refused_retask_sends_the_next_drone_on_its_dock(tmp_path: Path) -> None:
    deployment = load_deployment(edited_pueblo(tmp_path))
    async with operations_on_simulator(tmp_path, deployment) as (ops, vehicles):
        noise = await ops.calls.create_call(NewCall(*NOISE, 3, "test", "loud party"), PILOT.name)
        first = await ops.dispatch(noise.id, PILOT, "hq")
        assert first.sortie is not None
        flying = ops.board.get(first.sortie.id)
        assert flying is not None

        def on_scene() -> bool:
            return flying.executor is not None and flying.executor.state is SortieState.ON_SCENE

        await eventually("dfr-1 on scene at the noise call", on_scene, wall_s(200.0))
        shots = await ops.calls.create_call(NewCall(*SHOTS, 1, "test", "shots fired"), PILOT.name)
        best = (await ops.recommend_call(shots.id)).candidates[0]
        assert (best.drone_id, best.airborne) == ("dfr-1", True)

        vehicles.by_station["hq"].faults.link_loss(True)  # the upload never gets there
        result = await ops.dispatch(shots.id, PILOT)
        assert result.retask_failed is not None
        assert "dfr-1 did not take the new mission" in result.retask_failed
        assert result.sortie is not None
        assert result.candidate is not None
        assert result.sortie.drone_id != "dfr-1"
        assert not result.candidate.airborne
        assert result.sortie.call_id == shots.id
        # The noise call keeps its drone; the urgent one has the next.
        assert (await ops.records.get_sortie(first.sortie.id)).call_id == noise.id
        audit = [e for e in await ops.records.audit_log(1000, 0) if e.action == "sortie.dispatch"]
        assert [e.outcome for e in audit if e.subject == f"call:{shots.id}"][-1:] == ["refused"]

        # dfr-1 holds for the pilot (or comes home by its link-loss action): bring it home.
        vehicles.by_station["hq"].faults.link_loss(False)
        async with asyncio.timeout(wall_s(60.0)):
            while True:
                try:
                    await ops.command("dfr-1", PilotCommand("return"), PILOT)
                    break
                except (CommandNotAllowed, LinkError):
                    await asyncio.sleep(0.5)  # not heard again yet
        await eventually("every drone home", lambda: len(ops.board) == 0, wall_s(1000.0))
