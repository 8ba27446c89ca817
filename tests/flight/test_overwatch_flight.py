"""Continuous overwatch on the built-in simulator, through the operations service
(SQLite store, dispatcher, flight executors): a call kept watched outlasts its first
drone's battery; a relief launches on its own, reaches a point apart from the first
drone before that one must leave, takes the call's video over, and the first flies home.
Closing the call brings the relief home too."""

from __future__ import annotations

from pathlib import Path

from dfr.auth import Principal, Role
from dfr.deployment import load_deployment
from dfr.store import NewCall
from missions.geo import GeoPoint
from missions.sortie import Cause, SortieState
from tests.deployments import short_battery_pueblo
from tests.flight.conftest import eventually, operations_on_simulator, wall_s

PILOT = Principal("pilot", Role.PILOT)
SCENE = (38.2560, -104.6080)  # 1.1 km from hq, 2 km from bessemer


async def test_a_relief_takes_over_a_call_kept_under_overwatch(tmp_path: Path) -> None:
    deployment = load_deployment(short_battery_pueblo(tmp_path))
    async with operations_on_simulator(tmp_path, deployment) as (ops, vehicles):
        call = await ops.calls.create_call(NewCall(*SCENE, 1, "test", overwatch=True), PILOT.name)
        assert call.overwatch
        result = await ops.dispatch(call.id, PILOT, "hq")
        assert result.sortie is not None
        first = ops.board.get(result.sortie.id)
        assert first is not None
        assert first.executor is not None
        # The first drone stays as long as its battery allows, not the deployment's 60 s.
        assert first.executor.plan.on_scene_s is not None
        assert first.executor.plan.on_scene_s > 200.0

        def relief_flying():
            return next((a for a in ops.board if a.record.relieves == first.record.id), None)

        await eventually("a relief is launched", lambda: relief_flying() is not None, wall_s(600))
        relief = relief_flying()
        assert relief is not None
        assert relief.station.id == "bessemer"
        assert first.executor.state is SortieState.ON_SCENE  # launched before it must leave
        await eventually(
            "the relief is on scene",
            lambda: relief.executor is not None and relief.executor.state is SortieState.ON_SCENE,
            wall_s(400),
        )
        # The relief serves the call from now on: a share link follows it.
        assert ops.board.for_call(call.id) is relief
        await eventually(
            "the first drone is sent home",
            lambda: first.executor.state is not SortieState.ON_SCENE,
            wall_s(30),
        )
        here = ops.fleet.state("bessemer").position
        there = ops.fleet.state("hq").position
        assert here is not None
        assert there is not None
        apart_m = here.point.distance_m(there.point)
        assert apart_m > 30.0, f"the two drones were {apart_m:.0f} m apart at the handover"
        scene = GeoPoint(*SCENE)
        assert 25.0 < here.point.distance_m(scene) < 60.0  # watches from 40 m off the scene

        handed = [t for t in first.executor.sortie.transitions if t.cause is Cause.OVERWATCH]
        assert [t.to_state for t in handed] == [SortieState.RETURNING]
        assert "relieved by dfr-2" in handed[0].detail
        first_left = handed[0].wall_time
        relief_arrived = next(
            t.wall_time
            for t in relief.executor.sortie.transitions
            if t.to_state is SortieState.ON_SCENE
        )
        assert relief_arrived <= first_left  # no gap in the watch

        await ops.calls.close_call(call.id, PILOT.name)
        await eventually("both drones are home", lambda: len(ops.board) == 0, wall_s(400))
        first_row = await ops.records.get_sortie(first.record.id)
        relief_row = await ops.records.get_sortie(relief.record.id)
        assert (first_row.state, relief_row.state) == ("docked", "docked")
        assert relief_row.relieves == first.record.id
        audit = await ops.records.audit_log(1000, 0)
        actions = [(e.actor, e.action) for e in audit if e.actor == "overwatch"]
        assert ("overwatch", "sortie.relief") in actions
        assert actions.count(("overwatch", "sortie.overwatch_return")) == 1
