"""The calls: stored, taken from CAD (also as EIDOs), read as each asker sees them, closed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from dfr.active_sorties import SortieBoard
from dfr.agency_scope import AgencyScope
from dfr.auth import Principal
from dfr.auto_launch import AutoLaunch
from dfr.console_views import call_event
from dfr.dispatcher import Dispatcher
from dfr.eido_intake import EidoIntake, EidoResult
from dfr.events import EventBus
from dfr.overwatch import Overwatch
from dfr.store import CallRecord, NewCall, Store, VersionOutcome


class Calls:
    """Every new call is announced on the console feed and put to the launch policies;
    a retry of one CAD already sent is neither."""

    def __init__(
        self,
        store: Store,
        scope: AgencyScope,
        board: SortieBoard,
        bus: EventBus,
        dispatcher: Dispatcher,
        auto_launch: AutoLaunch,
        eido: EidoIntake,
        overwatch: Overwatch,
    ) -> None:
        self._store = store
        self._scope = scope
        self._board = board
        self._bus = bus
        self._dispatcher = dispatcher
        self._auto_launch = auto_launch
        self._eido = eido
        self._overwatch = overwatch

    async def list_calls(
        self, who: Principal, statuses: Sequence[str] | None, after_id: int = 0, limit: int = -1
    ) -> list[CallRecord]:
        """Calls after the cursor `after_id`, at most `limit`; a share link sees its own."""
        calls = await self._store.list_calls(statuses, after_id, limit)
        if who.call_id is not None:
            calls = [c for c in calls if c.id == who.call_id]
        return [c for c in calls if self._scope.sees_call(who, c)]

    async def get_call(self, call_id: int) -> CallRecord:
        return await self._store.get_call(call_id)

    async def create_call(self, call: NewCall, actor: str) -> CallRecord:
        """Store a call and put it to the launch policies; returns it as it then is."""
        return await self._auto_launch.consider(await self.store_call(call, actor))

    async def store_call(self, call: NewCall, actor: str) -> CallRecord:
        """Store a call without putting it to the launch policies (a pilot's launch to a
        point, dispatched at once)."""
        async with self._store.attempt(actor, "call.create", audit_accepted=False):
            record = await self._dispatcher.create_call(call, actor)
        self._bus.publish(call_event(record))
        return record

    async def take_external_call(self, call: NewCall, actor: str) -> tuple[CallRecord, bool]:
        """A call from CAD or a sensor: a retry of the same incident gets the stored call
        back (and nothing new is announced, nothing launched); a new one is put to the
        launch policies. Returns (call as it then is, newly stored)."""
        record, created = await self._dispatcher.take_external_call(call, actor)
        if created:
            self._bus.publish(call_event(record))
            record = await self._auto_launch.consider(record)
        return record, created

    async def take_eido(self, body: bytes, actor: str, agency: str | None = None) -> EidoResult:
        """An EIDO's JSON text (NENA-STA-021): a new incident is stored as a call (and put
        to the launch policies), a later version updates that call (dfr.eido_intake).
        Raises dfr.eido's EidoError, audited as refused with the reason the sender is
        given."""
        async with self._store.attempt(actor, "eido.intake", audit_accepted=False):
            result = await self._eido.take(body, actor, agency)
        return await self._eido_launch(result)

    async def take_eido_document(self, document: object, actor: str) -> EidoResult:
        """As `take_eido`, for an EIDO already decoded (a NENA-STA-024 notification's)."""
        async with self._store.attempt(actor, "eido.intake", audit_accepted=False):
            result = await self._eido.take_document(document, actor)
        return await self._eido_launch(result)

    async def _eido_launch(self, result: EidoResult) -> EidoResult:
        if result.outcome is not VersionOutcome.CREATED:
            return result
        return replace(result, call=await self._auto_launch.consider(result.call))

    async def close_call(self, call_id: int, actor: str) -> CallRecord:
        async with self._store.attempt(
            actor, "call.closed", f"call:{call_id}", audit_accepted=False
        ):
            record = await self._store.set_call_status(call_id, "closed", actor)
        self._bus.publish(call_event(record))
        await self._overwatch.call_closed(record)
        return record

    async def set_overwatch(self, call_id: int, on: bool, actor: str) -> CallRecord:
        """Keep a call watched drone after drone until it is closed (or stop). Raises
        NotFound, Conflict (a closed call)."""
        async with self._store.attempt(
            actor, "call.overwatch", f"call:{call_id}", {"overwatch": on}, audit_accepted=False
        ):
            record = await self._store.set_call_overwatch(call_id, on, actor)
        for active in self._board:
            if active.call.id == call_id:
                active.call = record
        self._bus.publish(call_event(record))
        return record
