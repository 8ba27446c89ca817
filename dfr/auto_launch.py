"""Auto-launch: every new call is put to the deployment's launch policies, and the first
that takes it sends the best station's drone as `policy:<name>`, through the path a
dispatcher's click takes (`Operations.dispatch`), within the limit of policy launches in
flight at once.

    call stored → policies (dfr.launch_policies) → limit → dispatch, never queued
                → launched, or held for the pilot with a countdown (dfr.sortie_runner)

What the policies decided is written on the call (`policy`, `policy_outcome`,
`policy_reason`) and audited (`call.policy`):

    not_matched     a policy takes calls from the call's source, but none took this one
                    (each one's reason)
    left            a policy took it, and it is left for a dispatcher: the policies'
                    launches in flight are at `max_concurrent`, or no drone can go now
                    (one flying, charging, not ready or whose dock set-up is not
                    verified yet is never taken; nothing is queued)

The runner then writes what became of the launch: launched, awaiting_pilot, expired,
aborted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from dfr.active_sorties import SortieBoard
from dfr.auth import Principal, Role
from dfr.console_views import call_event
from dfr.dispatcher import DispatchError, DispatchResult, DroneTaken
from dfr.events import EventBus
from dfr.launch_policies import LaunchPolicies, LaunchPolicy
from dfr.recommend import Recommendation
from dfr.store import ACCEPTED, REFUSED, CallRecord, Store, StoreError

log = logging.getLogger(__name__)

#: The actor of what the policies decided when none of them took a call.
AUTO_LAUNCH = "auto-launch"

PolicyDispatch = Callable[[int, Principal, LaunchPolicy, str], Awaitable[DispatchResult]]
"""Dispatch a call to a station as a policy (never the queue)."""

Recommend = Callable[[int], Awaitable[Recommendation]]
"""Rank the stations for a call."""

Unready = Callable[[str], str | None]
"""Why a station's drone is not ready for a launch nobody clicked (None: it is)."""


class AutoLaunch:
    def __init__(
        self,
        policies: LaunchPolicies,
        store: Store,
        board: SortieBoard,
        bus: EventBus,
        recommend: Recommend,
        dispatch: PolicyDispatch,
        unready: Unready = lambda station_id: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.policies = policies
        self._store = store
        self._board = board
        self._bus = bus
        self._recommend = recommend
        self._dispatch = dispatch
        self._unready = unready
        #: The time policies judge hours by (a scenario may fix it).
        self.clock = now
        # One decision at a time: two alerts at once must not both see room under the limit.
        self._deciding = asyncio.Lock()

    @property
    def in_flight(self) -> int:
        """The policies' launches held for the pilot or flying."""
        return sum(1 for active in self._board if active.policy is not None)

    async def consider(self, call: CallRecord) -> CallRecord:
        """Put a new call to the policies; returns the call as it now is."""
        if not self.policies or call.status != "new" or not self.policies.concern(call):
            return call
        now = self.clock()
        policy = self.policies.matching(call, now)
        if policy is None:
            reasons = "; ".join(f"{n}: {r}" for n, r in self.policies.explain(call, now).items())
            why = f"no launch policy takes it ({reasons})"
            return await self._note(call, None, "not_matched", why, AUTO_LAUNCH)
        async with self._deciding:
            busy = self.in_flight
            limit = self.policies.max_concurrent
            if busy >= limit:
                why = (
                    f"policy {policy.name} takes it, but {busy} policy launch(es) are in flight"
                    f" (max_concurrent {limit}): left for a dispatcher"
                )
                return await self._left(call, policy, why)
            try:
                result = await self._launch(call, policy)
            except (DispatchError, StoreError) as exc:
                why = f"policy {policy.name} takes it, but: {exc}; left for a dispatcher"
                return await self._left(call, policy, why)
        if isinstance(result, str):
            why = (
                f"policy {policy.name} takes it, but no drone can go now ({result}):"
                " left for a dispatcher"
            )
            return await self._left(call, policy, why)
        return await self._store.get_call(call.id)

    async def _launch(self, call: CallRecord, policy: LaunchPolicy) -> DispatchResult | str:
        """Dispatch the best station whose drone is ready; else why none can go."""
        rec = await self._recommend(call.id)
        why_not = [f"{e.station_id}: {e.reason}" for e in rec.excluded]
        who = Principal(policy.actor, Role.DISPATCHER)
        for candidate in rec.candidates:
            if candidate.airborne:
                # Re-tasking a drone in flight is a dispatcher's decision, never a policy's.
                why_not.append(f"{candidate.station_id}: in flight on another call")
                continue
            unready = self._unready(candidate.station_id)
            if unready is not None:
                why_not.append(f"{candidate.station_id}: {unready}")
                continue
            try:
                return await self._dispatch(call.id, who, policy, candidate.station_id)
            except DroneTaken as exc:
                why_not.append(str(exc))
        return "; ".join(why_not) or "no station"

    async def _left(self, call: CallRecord, policy: LaunchPolicy, why: str) -> CallRecord:
        log.info("call %d: %s", call.id, why)
        return await self._note(call, policy.name, "left", why, policy.actor, REFUSED)

    async def _note(
        self,
        call: CallRecord,
        policy: str | None,
        outcome: str,
        why: str,
        actor: str,
        audit_outcome: str = ACCEPTED,
    ) -> CallRecord:
        record = await self._store.set_call_policy(
            call.id, policy, outcome, why, actor, audit_outcome
        )
        self._bus.publish(call_event(record))
        return record
