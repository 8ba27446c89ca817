"""Launch policies flying on the simulator, through the whole operations service: a
matching gunshot takes off with no click, the policy the actor; a low-confidence one
waits; the limit of policy launches in flight holds; a launch held for the pilot is
confirmed, declined, expires or launches when its countdown runs out; a restart expires
one left waiting. Real SQLite, the simulator over real MAVSDK links."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from dfr.auth import Principal, Role
from dfr.deployment import Deployment, load_deployment
from dfr.launch_policies import LaunchMode, LaunchPolicies, LaunchPolicy, OnTimeout, PolicyArea
from dfr.operations import Operations
from dfr.pilot_commands import PilotCommand
from dfr.services import open_services
from dfr.settings import Settings
from dfr.store import CallRecord, NewCall
from missions.sortie import SortieState
from tests import simulator
from tests.flight.conftest import eventually, wall_s

EAST_SIDE = (38.2700, -104.5600)  # in the East Side patrol district
DOWNTOWN = (38.2600, -104.6050)
PILOT = Principal("pilot", Role.PILOT)


def _with_policies(*policies: LaunchPolicy, max_concurrent: int) -> Deployment:
    pueblo = load_deployment()
    return replace(
        pueblo,
        launch_policy="immediate",
        launch_policies=LaunchPolicies(policies, max_concurrent, pueblo.time_zone),
    )


def _east_side(pueblo: Deployment) -> PolicyArea:
    (zone,) = pueblo.airspace.zones_named("East Side patrol district")
    return PolicyArea(zone.name, pueblo.airspace.frame, zone.shape_local)


def _gunshot(alert_id: str, where: tuple[float, float], confidence: float, rounds: int) -> NewCall:
    return NewCall(
        *where,
        1,
        "gunshot",
        f"gunshot alert: {rounds} round(s)",
        alert_id,
        call_type="gunshot",
        confidence=confidence,
        rounds=rounds,
    )


def _cad(incident: str, call_type: str) -> NewCall:
    return NewCall(*DOWNTOWN, 1, "cad", call_type, incident, call_type)


@asynccontextmanager
async def _operations(tmp_path: Path, deployment: Deployment) -> AsyncIterator[Operations]:
    users = tmp_path / "users.toml"
    users.write_text("# no users\n")
    settings = Settings(state_dir=tmp_path, users_file=users, secret_key="test")
    async with (
        open_services(settings, deployment, simulator.InProcessVehicles()) as services,
        Operations.running(services, settings) as ops,
    ):
        await ops.wait_docks_prepared(wall_s(60.0))
        yield ops


async def _mission_started(ops: Operations, call: CallRecord) -> None:
    def started() -> bool:
        active = ops.board.for_call(call.id)
        executor = active.executor if active is not None else None
        return executor is not None and any(
            e.kind == "mission_started" for e in executor.sortie.events
        )

    await eventually(f"call {call.id}'s drone armed, mission started", started, wall_s(30.0))


async def _ended(ops: Operations, call: CallRecord) -> None:
    await eventually(
        f"call {call.id}'s sortie ended", lambda: ops.board.for_call(call.id) is None, wall_s(300.0)
    )


async def _call_once(
    ops: Operations, call_id: int, done: Callable[[CallRecord], bool]
) -> CallRecord:
    """The call once `done` holds for it (the store is the only place to look)."""
    async with asyncio.timeout(wall_s(30.0)):
        while not done(call := await ops.calls.get_call(call_id)):  # noqa: ASYNC110 - a row
            await asyncio.sleep(0.05)
    return call


async def test_a_matching_gunshot_flies_with_no_click_and_the_limit_holds(tmp_path: Path) -> None:
    pueblo = load_deployment()
    policy = LaunchPolicy(
        "gunshot-east",
        frozenset({"gunshot"}),
        min_confidence=0.8,
        min_rounds=2,
        area=_east_side(pueblo),
    )
    async with _operations(tmp_path, _with_policies(policy, max_concurrent=1)) as ops:
        shot, created = await ops.calls.take_external_call(
            _gunshot("G-1", EAST_SIDE, 0.93, 3), "gunshot-sensor"
        )
        assert created
        assert (shot.status, shot.policy, shot.policy_outcome) == (
            "dispatched",
            "gunshot-east",
            "launched",
        )
        assert (shot.confidence, shot.rounds) == (0.93, 3)
        sortie = await ops.records.sortie_for_call(shot.id)
        assert sortie is not None
        assert sortie.station_id == "eastside"
        assert (sortie.created_by, sortie.launched_by, sortie.policy) == (
            "policy:gunshot-east",
            "policy:gunshot-east",
            "gunshot-east",
        )
        await _mission_started(ops, shot)
        active = ops.board.for_call(shot.id)
        assert active is not None
        assert active.executor is not None
        await active.executor.wait_for_state(SortieState.EN_ROUTE, timeout_s=wall_s(30.0))
        assert ops.fleet.drone("eastside").state.in_air

        # Low confidence: the call waits for a dispatcher, and says why.
        doubtful, _ = await ops.calls.take_external_call(
            _gunshot("G-2", EAST_SIDE, 0.5, 3), "gunshot-sensor"
        )
        assert (doubtful.status, doubtful.policy_outcome) == ("new", "not_matched")
        assert "confidence 50% is below 80%" in (doubtful.policy_reason or "")
        assert await ops.records.sortie_for_call(doubtful.id) is None

        # A second match while the first flies: over the limit of one, left for a person,
        # though two drones are free.
        second, _ = await ops.calls.take_external_call(
            _gunshot("G-3", EAST_SIDE, 0.99, 5), "gunshot-sensor"
        )
        assert (second.status, second.policy, second.policy_outcome) == (
            "new",
            "gunshot-east",
            "left",
        )
        assert "max_concurrent 1" in (second.policy_reason or "")
        assert await ops.records.sortie_for_call(second.id) is None

        audit = [(e.actor, e.action, e.outcome) for e in await ops.records.audit_log(500, 0)]
        assert ("policy:gunshot-east", "sortie.dispatch", "accepted") in audit
        assert ("policy:gunshot-east", "sortie.launch", "accepted") in audit
        assert ("policy:gunshot-east", "call.policy", "refused") in audit  # the one left

        # The pilot aborts the policy's launch: nobody has looked at the call yet, so it
        # goes back to the dispatchers.
        await ops.command("dfr-3", PilotCommand("abort"), PILOT)
        await _ended(ops, shot)
        after = await _call_once(ops, shot.id, lambda c: c.status == "new")
        assert after.policy_outcome == "aborted"
        assert "aborted before the drone reached the scene" in (after.policy_reason or "")


async def test_launches_held_for_the_pilot_are_confirmed_declined_or_run_out(
    tmp_path: Path,
) -> None:
    def held(name: str, call_type: str, confirm_s: float, on_timeout: OnTimeout) -> LaunchPolicy:
        return LaunchPolicy(
            name,
            frozenset({"cad"}),
            call_types=frozenset({call_type}),
            max_priority=1,
            mode=LaunchMode.PILOT_CONFIRM,
            confirm_s=confirm_s,
            on_timeout=on_timeout,
        )

    deployment = _with_policies(
        held("cad-wait", "armed_subject", 600.0, OnTimeout.EXPIRE),
        held("cad-expire", "robbery", 1.0, OnTimeout.EXPIRE),
        held("cad-launch", "shots_fired", 1.0, OnTimeout.LAUNCH),
        max_concurrent=3,
    )
    async with _operations(tmp_path, deployment) as ops:
        # Confirmed by the pilot within the window.
        waiting, _ = await ops.calls.take_external_call(_cad("C-1", "armed_subject"), "cad")
        assert (waiting.status, waiting.policy_outcome) == ("dispatched", "awaiting_pilot")
        sortie = await ops.records.sortie_for_call(waiting.id)
        assert sortie is not None
        assert sortie.state == "awaiting_pilot"
        assert sortie.confirm_expires_at is not None
        assert not ops.fleet.drone(sortie.station_id).state.armed
        confirmed = await ops.confirm_launch(sortie.id, PILOT)
        assert confirmed.launched_by == "pilot"
        assert (await ops.calls.get_call(waiting.id)).policy_outcome == "launched"
        await _mission_started(ops, waiting)
        await ops.command(sortie.drone_id, PilotCommand("abort"), PILOT)
        await _ended(ops, waiting)

        # Declined: the pilot's abort of a held launch withdraws it.
        declined, _ = await ops.calls.take_external_call(_cad("C-2", "armed_subject"), "cad")
        held_sortie = await ops.records.sortie_for_call(declined.id)
        assert held_sortie is not None
        answer = await ops.command(held_sortie.drone_id, PilotCommand("abort"), PILOT)
        assert answer["sortie_state"] == "aborted"
        after = await ops.calls.get_call(declined.id)
        assert (after.status, after.policy_outcome) == ("new", "declined")
        assert (await ops.records.get_sortie(held_sortie.id)).state == "aborted"
        assert (await ops.dispatcher.store.drone_sorties())[held_sortie.drone_id] is None

        # Not confirmed in time, "expire": the drone never arms, the call is open again.
        lapsed, _ = await ops.calls.take_external_call(_cad("C-3", "robbery"), "cad")
        lapsed_sortie = await ops.records.sortie_for_call(lapsed.id)
        assert lapsed_sortie is not None
        await _ended(ops, lapsed)
        after = await ops.calls.get_call(lapsed.id)
        assert (after.status, after.policy_outcome) == ("new", "expired")
        assert "not confirmed within 1 s" in (after.policy_reason or "")
        record = await ops.records.get_sortie(lapsed_sortie.id)
        assert (record.state, record.launched_by) == ("aborted", None)
        entries = [(e.actor, e.action) for e in await ops.records.audit_log(500, 0)]
        assert ("policy:cad-expire", "sortie.release") in entries

        # Not confirmed in time, "launch": the policy launches it.
        pressed, _ = await ops.calls.take_external_call(_cad("C-4", "shots_fired"), "cad")
        await _mission_started(ops, pressed)
        launched = await ops.records.sortie_for_call(pressed.id)
        assert launched is not None
        assert launched.launched_by == "policy:cad-launch"
        assert (await ops.calls.get_call(pressed.id)).policy_outcome == "launched"
        await ops.command(launched.drone_id, PilotCommand("abort"), PILOT)
        await _ended(ops, pressed)


async def test_a_launch_held_when_the_server_stopped_expires_at_the_next_start(
    tmp_path: Path,
) -> None:
    policy = LaunchPolicy(
        "cad-wait",
        frozenset({"cad"}),
        call_types=frozenset({"robbery"}),
        mode=LaunchMode.PILOT_CONFIRM,
        confirm_s=600.0,
        on_timeout=OnTimeout.LAUNCH,
    )
    deployment = _with_policies(policy, max_concurrent=1)
    async with _operations(tmp_path, deployment) as ops:
        call, _ = await ops.calls.take_external_call(_cad("C-9", "robbery"), "cad")
        sortie = await ops.records.sortie_for_call(call.id)
        assert sortie is not None
        assert sortie.state == "awaiting_pilot"
    async with _operations(tmp_path, deployment) as ops:
        async with asyncio.timeout(wall_s(60.0)):
            await ops.recovery.settled.wait()
        record = await ops.records.get_sortie(sortie.id)
        assert (record.state, record.launched_by) == ("aborted", None)
        assert "server restarted" in record.events[-1].cause
        after = await ops.calls.get_call(call.id)
        assert (after.status, after.policy_outcome) == ("new", "expired")
        assert (await ops.dispatcher.store.drone_sorties())[sortie.drone_id] is None
        entries = [(e.actor, e.action) for e in await ops.records.audit_log(500, 0)]
        assert ("policy:cad-wait", "sortie.release") in entries
