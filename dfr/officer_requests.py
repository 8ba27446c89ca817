"""Officers' "drone to me": a request from an officer's phone becomes a call at the phone's
position (source `officer`, the officer its requester), put to the launch policies as any
new call; on scene, the drone follows the officer's updated position within bounds.

Bounds (`[officer_requests]` in the deployment): a fix less sure than `max_accuracy_m`
or outside the operational area is refused; an officer has one open request at a time
and asks at most every `min_interval_s`. Follow me repositions the drone at most every
`follow_interval_s`, only when the officer moved `follow_min_move_m` from the last
target, never beyond `follow_max_from_scene_m` of the request's position, and only on a
straight leg the route planner permits (no-fly zones, ceilings, the area). It stops when
the officer turns it off or the drone leaves the scene. Follow state lives in memory: a
restart turns it off.

Errors::

    OfficerRequestError
    ├── FixRefused       a position that cannot be used (accuracy, area) (HTTP 422)
    ├── RequestOpen      the officer's last request is still open (HTTP 409)
    ├── AskedTooSoon     asked again within min_interval_s (HTTP 429)
    └── NotYourRequest   a call the officer did not ask for, or no longer open (HTTP 403)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dfr.active_sorties import SortieBoard
from dfr.deployment import OfficerRequestsSection
from dfr.store import CallRecord, NewCall, Store
from missions.geo import GeoPoint
from missions.planner import RoutePlanner
from missions.sortie import FINAL_STATES, SortieState

SOURCE = "officer"

CreateCall = Callable[[NewCall, str], Awaitable[CallRecord]]
"""Store a call and put it to the launch policies (Operations.create_call)."""


class OfficerRequestError(Exception):
    """Base of the "drone to me" errors."""


class FixRefused(OfficerRequestError):
    pass


class RequestOpen(OfficerRequestError):
    def __init__(self, message: str, call: CallRecord) -> None:
        super().__init__(message)
        self.call = call


class AskedTooSoon(OfficerRequestError):
    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotYourRequest(OfficerRequestError):
    pass


@dataclass(frozen=True, slots=True)
class PositionFix:
    """Where the officer's phone says it is, and how sure it is (radius, metres)."""

    point: GeoPoint
    accuracy_m: float


class FollowOutcome(StrEnum):
    """What one position update did to the drone."""

    OFF = "off"  # follow me is off
    WAITING = "waiting"  # no drone on scene yet
    ENDED = "ended"  # the drone left the scene: follow me turned off
    REPOSITIONED = "repositioned"
    TOO_SOON = "too_soon"  # within follow_interval_s of the last reposition
    MOVED_TOO_LITTLE = "moved_too_little"  # less than follow_min_move_m from the target
    REFUSED = "refused"  # not permitted there (the reason says why)


@dataclass(frozen=True, slots=True)
class FollowResult:
    follow: bool
    outcome: FollowOutcome
    reason: str
    target: GeoPoint | None


@dataclass
class _Follow:
    """One request's follow-me state."""

    on: bool = False
    target: GeoPoint | None = None  # where the drone was last sent (or the scene)
    repositioned_at_s: float | None = None
    last_fix: PositionFix | None = None
    sortie_id: int | None = None


class OfficerRequests:
    def __init__(
        self,
        bounds: OfficerRequestsSection,
        planner: RoutePlanner,
        store: Store,
        board: SortieBoard,
        create_call: CreateCall,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bounds = bounds
        self._planner = planner
        self._store = store
        self._board = board
        self._create_call = create_call
        self._clock = clock
        self._asked_at_s: dict[str, float] = {}
        self._follows: dict[int, _Follow] = {}

    async def request(
        self,
        officer: str,
        fix: PositionFix,
        priority: int,
        note: str = "",
        agency: str | None = None,
    ) -> CallRecord:
        """A call at the officer's position, put to the launch policies: the agency's whose
        jurisdiction it is in; outside every one, the officer's own `agency`. Raises
        FixRefused, RequestOpen or AskedTooSoon (audited as refused)."""
        details = {
            "lat": fix.point.latitude_deg,
            "lon": fix.point.longitude_deg,
            "accuracy_m": fix.accuracy_m,
            "priority": priority,
        }
        async with self._store.attempt(
            officer, "officer.request", "", details, audit_accepted=False
        ):
            self._check_fix(fix)
            open_call = await self.open_request(officer)
            if open_call is not None:
                raise RequestOpen(
                    f"your request is still open: call {open_call.id}; one at a time",
                    open_call,
                )
            now_s = self._clock()
            asked_s = self._asked_at_s.get(officer)
            if asked_s is not None and now_s - asked_s < self.bounds.min_interval_s:
                wait_s = self.bounds.min_interval_s - (now_s - asked_s)
                raise AskedTooSoon(
                    f"you asked for a drone {now_s - asked_s:.0f} s ago: ask again in"
                    f" {wait_s:.0f} s",
                    wait_s,
                )
            self._asked_at_s[officer] = now_s
        summary = f"drone to me: officer {officer} (±{fix.accuracy_m:.0f} m)"
        if note:
            summary += f" — {note}"
        call = NewCall(
            fix.point.latitude_deg,
            fix.point.longitude_deg,
            priority,
            SOURCE,
            summary,
            location_uncertainty_m=fix.accuracy_m,
            call_type="officer_request",
            requester=officer,
            agency=agency,
        )
        record = await self._create_call(call, officer)
        self._follows[record.id] = _Follow(target=fix.point, last_fix=fix)
        return record

    async def open_request(self, officer: str) -> CallRecord | None:
        """The officer's last request while it is open (not closed, its drone not back)."""
        call = await self._store.latest_call_requested_by(officer)
        if call is None or call.status == "closed":
            return None
        sortie = await self._store.latest_sortie_for_call(call.id)
        if sortie is not None and sortie.state in FINAL_STATES:
            return None
        return call

    async def _flown(self, call_id: int) -> bool:
        """A sortie flew for the call and is over."""
        sortie = await self._store.latest_sortie_for_call(call_id)
        return sortie is not None and sortie.state in FINAL_STATES

    def follow_view(self, call_id: int) -> dict[str, Any]:
        follow = self._follows.get(call_id)
        return {"follow": bool(follow and follow.on), "bounds": self.bounds.model_dump()}

    async def update_position(
        self, officer: str, call_id: int, fix: PositionFix, follow: bool
    ) -> FollowResult:
        """The officer's new position for their request `call_id`, and whether the drone
        should follow it. Raises NotYourRequest, FixRefused."""
        call = await self._store.get_call(call_id)
        if call.requester != officer:
            raise NotYourRequest(f"call {call_id} is not your request")
        if call.status == "closed":
            raise NotYourRequest(f"call {call_id} is closed")
        self._check_fix(fix)
        state = self._follows.setdefault(
            call_id, _Follow(target=GeoPoint(call.latitude_deg, call.longitude_deg))
        )
        state.last_fix = fix
        state.on = follow
        if not follow:
            return FollowResult(False, FollowOutcome.OFF, "follow me is off", state.target)
        active = self._board.for_call(call_id)
        flying = active.state if active is not None else None
        if active is None or active.executor is None or flying != SortieState.ON_SCENE:
            if flying in _LEFT_SCENE or (active is None and await self._flown(call_id)):
                state.on = False
                why = "the drone has left the scene: follow me is off"
                return FollowResult(False, FollowOutcome.ENDED, why, state.target)
            why = "the drone follows you once it is on scene"
            return FollowResult(True, FollowOutcome.WAITING, why, state.target)
        state.sortie_id = active.record.id
        return await self._follow(officer, call, state, fix, active)

    async def _follow(
        self, officer: str, call: CallRecord, state: _Follow, fix: PositionFix, active: Any
    ) -> FollowResult:
        b = self.bounds
        scene = GeoPoint(call.latitude_deg, call.longitude_deg)
        target = state.target or scene
        now_s = self._clock()
        if state.repositioned_at_s is not None:
            since_s = now_s - state.repositioned_at_s
            if since_s < b.follow_interval_s:
                why = f"repositioned {since_s:.1f} s ago (at most every {b.follow_interval_s:g} s)"
                return FollowResult(True, FollowOutcome.TOO_SOON, why, target)
        moved_m = fix.point.distance_m(target)
        if moved_m < b.follow_min_move_m:
            why = f"you moved {moved_m:.0f} m (the drone follows from {b.follow_min_move_m:g} m)"
            return FollowResult(True, FollowOutcome.MOVED_TOO_LITTLE, why, target)
        subject = f"drone:{active.station.drone.id}"
        details = {
            "lat": fix.point.latitude_deg,
            "lon": fix.point.longitude_deg,
            "moved_m": round(moved_m, 1),
            "call_id": call.id,
            "sortie_id": active.record.id,
            "via": "follow-me",
        }
        refusal = self._refusal(scene, target, fix.point)
        if refusal is not None:
            await self._store.audit(
                officer, "follow.reposition", subject, details, "refused", refusal
            )
            return FollowResult(True, FollowOutcome.REFUSED, refusal, target)
        async with self._store.attempt(officer, "follow.reposition", subject, details):
            await active.executor.reposition(fix.point)
        state.target = fix.point
        state.repositioned_at_s = now_s
        return FollowResult(True, FollowOutcome.REPOSITIONED, "the drone follows you", fix.point)

    def _refusal(self, scene: GeoPoint, start: GeoPoint, end: GeoPoint) -> str | None:
        """Why the drone may not follow to `end` (None: it may)."""
        limit_m = self.bounds.follow_max_from_scene_m
        if end.distance_m(scene) > limit_m:
            return f"not followed: more than {limit_m:g} m from where you asked for the drone"
        refusal = self._planner.refusal(end)
        if refusal is not None:
            return f"not followed: your position is {refusal}"
        if not self._planner.leg_permitted(start, end):
            return "not followed: the way there crosses a no-fly zone or leaves the area"
        return None

    def _check_fix(self, fix: PositionFix) -> None:
        limit_m = self.bounds.max_accuracy_m
        if fix.accuracy_m > limit_m:
            raise FixRefused(
                f"position accuracy {fix.accuracy_m:.0f} m is worse than {limit_m:g} m:"
                " wait for a better fix (go outside, turn on precise location)"
            )
        if not self._planner.airspace.contains(fix.point):
            raise FixRefused("your position is outside the operational area")


_LEFT_SCENE = frozenset(
    {SortieState.RETURNING, SortieState.LANDED, SortieState.DOCKED}
    | {SortieState.ABORTED, SortieState.FAULT}
)
