"""The sortie state machine: one drone's flight for one call, and its timeline.

Pure: the flight executor feeds it what telemetry and pilots say; it refuses
transitions that cannot happen and keeps every step with its cause, the
vehicle's clock (seconds since the autopilot booted, from `time_boot_ms`) and
wall-clock UTC.

    docked → launching → en_route → on_scene → returning → landed → docked

`aborted` is a sortie given up by the pilot (the drone heads home and lands:
aborted → landed), `fault` one the system cannot complete (a refused arm, a
mismatched upload, a vehicle that lands away from home); both carry a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class SortieState(StrEnum):
    DOCKED = "docked"
    LAUNCHING = "launching"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    RETURNING = "returning"
    LANDED = "landed"
    ABORTED = "aborted"
    FAULT = "fault"


class Cause(StrEnum):
    """Why something happened."""

    DISPATCH = "dispatch"
    PILOT = "pilot"
    MISSION = "mission_progress"
    TELEMETRY = "telemetry"
    FAILSAFE = "failsafe"
    LINK = "link"
    BATTERY = "battery"
    GEOFENCE = "geofence"
    PREFLIGHT = "preflight"
    DOCK = "dock"
    OVERWATCH = "overwatch"  # a call kept watched: a relief took over, the drone goes home


S = SortieState
_ALLOWED: dict[SortieState, frozenset[SortieState]] = {
    S.DOCKED: frozenset({S.LAUNCHING}),
    S.LAUNCHING: frozenset({S.EN_ROUTE, S.ABORTED, S.FAULT}),
    S.EN_ROUTE: frozenset({S.ON_SCENE, S.RETURNING, S.LANDED, S.ABORTED, S.FAULT}),
    S.ON_SCENE: frozenset({S.EN_ROUTE, S.RETURNING, S.LANDED, S.ABORTED, S.FAULT}),
    # A returning drone may be sent back out (resume, re-tasking).
    S.RETURNING: frozenset({S.EN_ROUTE, S.LANDED, S.ABORTED, S.FAULT}),
    S.LANDED: frozenset({S.DOCKED, S.FAULT}),
    S.ABORTED: frozenset({S.LANDED, S.FAULT}),
    # A fault ends the sortie; the vehicle still lands (by itself or by a pilot).
    S.FAULT: frozenset({S.LANDED, S.DOCKED}),
}
AIRBORNE_STATES = frozenset({S.EN_ROUTE, S.ON_SCENE, S.RETURNING})
FINAL_STATES = frozenset({S.DOCKED, S.LANDED, S.ABORTED, S.FAULT})
"""A sortie in one of these has ended: its drone is released."""


class IllegalTransition(ValueError):
    """A transition the state machine does not have."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One step of the state machine; `vehicle_time_s` is None before any telemetry."""

    from_state: SortieState
    to_state: SortieState
    cause: Cause
    detail: str
    vehicle_time_s: float | None
    wall_time: datetime


@dataclass(frozen=True, slots=True)
class SortieEvent:
    """Something worth keeping that is not a state change (armed, pilot hold, a failsafe)."""

    kind: str
    cause: Cause
    detail: str
    vehicle_time_s: float | None
    wall_time: datetime


@dataclass
class Sortie:
    """One drone's flight for one call.

    >>> from datetime import UTC, datetime
    >>> s = Sortie("call-1", "north")
    >>> s.advance(SortieState.LAUNCHING, Cause.DISPATCH, "", 10.0, datetime.now(UTC)).to_state
    <SortieState.LAUNCHING: 'launching'>
    >>> s.advance(SortieState.ON_SCENE, Cause.MISSION, "", 11.0, datetime.now(UTC))
    Traceback (most recent call last):
    ...
    missions.sortie.IllegalTransition: launching -> on_scene is not a sortie transition
    """

    call_id: str
    station_id: str
    state: SortieState = SortieState.DOCKED
    transitions: list[Transition] = field(default_factory=list)
    events: list[SortieEvent] = field(default_factory=list)
    reason: str | None = None

    def can(self, to_state: SortieState) -> bool:
        return to_state in _ALLOWED[self.state]

    def advance(
        self,
        to_state: SortieState,
        cause: Cause,
        detail: str,
        vehicle_time_s: float | None,
        wall_time: datetime,
    ) -> Transition:
        """Move to `to_state`; raises IllegalTransition if the machine has no such step."""
        if not self.can(to_state):
            raise IllegalTransition(f"{self.state} -> {to_state} is not a sortie transition")
        step = Transition(self.state, to_state, cause, detail, vehicle_time_s, wall_time)
        self.transitions.append(step)
        self.state = to_state
        if to_state in (S.ABORTED, S.FAULT):
            self.reason = detail
        return step

    def record(
        self,
        kind: str,
        cause: Cause,
        detail: str,
        vehicle_time_s: float | None,
        wall_time: datetime,
    ) -> SortieEvent:
        event = SortieEvent(kind, cause, detail, vehicle_time_s, wall_time)
        self.events.append(event)
        return event

    @property
    def airborne(self) -> bool:
        return self.state in AIRBORNE_STATES

    @property
    def finished(self) -> bool:
        """Back on the ground (or docked) after having left the dock."""
        return bool(self.transitions) and self.state in (S.LANDED, S.DOCKED)

    def timeline(self) -> SortieTimeline:
        return SortieTimeline.from_sortie(self)


@dataclass(frozen=True, slots=True)
class SortieTimeline:
    """Vehicle-clock times (s since boot) of the sortie's milestones, None if not reached."""

    call_id: str
    station_id: str
    dispatch_s: float | None
    armed_s: float | None
    takeoff_s: float | None
    on_scene_s: float | None
    returning_s: float | None
    landed_s: float | None
    final_state: SortieState
    reason: str | None

    @classmethod
    def from_sortie(cls, sortie: Sortie) -> SortieTimeline:
        def entered(state: SortieState) -> float | None:
            for step in sortie.transitions:
                if step.to_state is state:
                    return step.vehicle_time_s
            return None

        armed = next((e.vehicle_time_s for e in sortie.events if e.kind == "armed"), None)
        returning = entered(S.RETURNING)
        if returning is None:
            returning = entered(S.ABORTED)
        return cls(
            call_id=sortie.call_id,
            station_id=sortie.station_id,
            dispatch_s=entered(S.LAUNCHING),
            armed_s=armed,
            takeoff_s=entered(S.EN_ROUTE),
            on_scene_s=entered(S.ON_SCENE),
            returning_s=returning,
            landed_s=entered(S.LANDED),
            final_state=sortie.state,
            reason=sortie.reason,
        )

    def _since_dispatch(self, t: float | None) -> float | None:
        if t is None or self.dispatch_s is None:
            return None
        return t - self.dispatch_s

    @property
    def dispatch_to_armed_s(self) -> float | None:
        return self._since_dispatch(self.armed_s)

    @property
    def dispatch_to_takeoff_s(self) -> float | None:
        return self._since_dispatch(self.takeoff_s)

    @property
    def dispatch_to_on_scene_s(self) -> float | None:
        return self._since_dispatch(self.on_scene_s)

    @property
    def dispatch_to_landed_s(self) -> float | None:
        return self._since_dispatch(self.landed_s)

    def in_order(self) -> bool:
        """True if the milestones that were reached happened in sortie order."""
        times = [
            t
            for t in (
                self.dispatch_s,
                self.armed_s,
                self.takeoff_s,
                self.on_scene_s,
                self.returning_s,
                self.landed_s,
            )
            if t is not None
        ]
        return all(a <= b for a, b in zip(times, times[1:], strict=False))
