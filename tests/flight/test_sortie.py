"""The sortie state machine and its timeline, without a vehicle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from missions.sortie import Cause, IllegalTransition, Sortie, SortieState, SortieTimeline

S = SortieState
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def flown(*steps: tuple[SortieState, float]) -> Sortie:
    sortie = Sortie("call-7", "north")
    for state, t in steps:
        sortie.advance(state, Cause.TELEMETRY, "", t, NOW)
    return sortie


def test_the_whole_sortie_in_order() -> None:
    sortie = Sortie("call-7", "north")
    sortie.advance(S.LAUNCHING, Cause.DISPATCH, "call call-7", 100.0, NOW)
    sortie.record("armed", Cause.PREFLIGHT, "", 101.5, NOW)
    for state, t in [
        (S.EN_ROUTE, 103.0),
        (S.ON_SCENE, 170.0),
        (S.RETURNING, 230.0),
        (S.LANDED, 330.0),
        (S.DOCKED, 330.0),
    ]:
        sortie.advance(state, Cause.TELEMETRY, "", t, NOW)
    timeline = sortie.timeline()
    assert timeline.dispatch_to_armed_s == 1.5
    assert timeline.dispatch_to_takeoff_s == 3.0
    assert timeline.dispatch_to_on_scene_s == 70.0
    assert timeline.dispatch_to_landed_s == 230.0
    assert timeline.in_order()
    assert timeline.final_state is S.DOCKED
    assert sortie.finished
    assert [t.from_state for t in sortie.transitions][:2] == [S.DOCKED, S.LAUNCHING]


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([], S.EN_ROUTE),
        ([S.LAUNCHING], S.ON_SCENE),
        ([S.LAUNCHING], S.LANDED),
        ([S.LAUNCHING, S.EN_ROUTE, S.ON_SCENE, S.RETURNING, S.LANDED], S.EN_ROUTE),
        ([S.LAUNCHING, S.EN_ROUTE, S.ON_SCENE, S.RETURNING, S.LANDED, S.DOCKED], S.ON_SCENE),
        ([S.LAUNCHING, S.ABORTED], S.EN_ROUTE),
    ],
)
def test_illegal_transitions_raise(path: list[SortieState], bad: SortieState) -> None:
    sortie = flown(*[(s, float(i)) for i, s in enumerate(path)])
    with pytest.raises(IllegalTransition, match=f"-> {bad}"):
        sortie.advance(bad, Cause.PILOT, "", 99.0, NOW)
    assert sortie.state is (path[-1] if path else S.DOCKED)


def test_abort_and_fault_carry_their_reason() -> None:
    sortie = flown((S.LAUNCHING, 1.0), (S.EN_ROUTE, 2.0))
    sortie.advance(S.ABORTED, Cause.PILOT, "pilot abort: returning home", 3.0, NOW)
    sortie.advance(S.LANDED, Cause.TELEMETRY, "", 9.0, NOW)
    assert sortie.reason == "pilot abort: returning home"
    timeline = sortie.timeline()
    assert timeline.returning_s == 3.0
    assert timeline.on_scene_s is None
    assert timeline.dispatch_to_on_scene_s is None

    faulty = flown((S.LAUNCHING, 1.0))
    faulty.advance(S.FAULT, Cause.PREFLIGHT, "upload did not verify", 2.0, NOW)
    assert faulty.reason == "upload did not verify"
    assert faulty.transitions[-1].cause is Cause.PREFLIGHT


def test_returning_drone_can_be_sent_back_out() -> None:
    sortie = flown((S.LAUNCHING, 1.0), (S.EN_ROUTE, 2.0), (S.RETURNING, 3.0), (S.EN_ROUTE, 4.0))
    assert sortie.state is S.EN_ROUTE
    assert sortie.airborne


def test_timeline_without_vehicle_time_has_no_durations() -> None:
    sortie = Sortie("c", "s")
    sortie.advance(S.LAUNCHING, Cause.DISPATCH, "", None, NOW)
    sortie.advance(S.EN_ROUTE, Cause.TELEMETRY, "", 5.0, NOW)
    assert SortieTimeline.from_sortie(sortie).dispatch_to_takeoff_s is None


def test_out_of_order_milestones_are_detected() -> None:
    sortie = flown((S.LAUNCHING, 10.0), (S.EN_ROUTE, 9.0))
    assert not sortie.timeline().in_order()
