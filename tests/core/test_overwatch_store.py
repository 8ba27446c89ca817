"""Overwatch in the store: a call flagged at creation or later, and a relief reserved
for the sortie on scene in one transaction, at most one per sortie, never for a call
that is over or a drone that is taken."""

from __future__ import annotations

import pytest

from dfr.store import Conflict, NewCall, NotFound, Store


async def test_a_relief_is_reserved_for_the_sortie_on_scene(store_url) -> None:
    async with Store.open(store_url) as store:
        await store.register_drones([("dfr-1", "hq"), ("dfr-2", "bessemer"), ("dfr-3", "east")])
        call = await store.add_call(
            NewCall(38.26, -104.6, 1, "cad", "standoff", overwatch=True), "d"
        )
        assert call.overwatch is True
        first = await store.reserve("dfr-1", "hq", call.id, "d")
        assert first is not None
        await store.record_sortie_state(first.id, "on_scene")

        relief = await store.reserve_relief("dfr-2", "bessemer", first.id, "overwatch", 95.0, {})
        assert relief is not None
        assert (relief.call_id, relief.relieves, relief.state) == (call.id, first.id, "reserved")
        assert (await store.get_call(call.id)).status == "dispatched"  # still the same call
        assert (await store.drone_sorties())["dfr-2"] == relief.id
        entry = [e for e in await store.audit_log() if e.action == "sortie.relief"][-1]
        assert (entry.actor, entry.details["relieves"]) == ("overwatch", first.id)
        assert entry.details["relieved_drone_id"] == "dfr-1"

        # One relief per sortie; a taken drone is None; a closed call takes none.
        with pytest.raises(Conflict, match="already has a relief"):
            await store.reserve_relief("dfr-3", "east", first.id, "overwatch")
        assert await store.reserve_relief("dfr-1", "hq", relief.id, "overwatch") is None
        await store.release(first.id, "docked", "system")
        with pytest.raises(Conflict, match="serves no call"):
            await store.reserve_relief("dfr-3", "east", first.id, "overwatch")
        await store.set_call_status(call.id, "closed", "d")
        with pytest.raises(Conflict, match="closed"):
            await store.reserve_relief("dfr-3", "east", relief.id, "overwatch")
        with pytest.raises(NotFound):
            await store.reserve_relief("dfr-3", "east", 999, "overwatch")
        assert (await store.drone_sorties()).get("dfr-3") is None  # nothing half-reserved


async def test_a_call_is_flagged_for_overwatch_later_and_never_once_closed(store_url) -> None:
    async with Store.open(store_url) as store:
        call = await store.add_call(NewCall(38.26, -104.6, 2, "cad", "barricade"), "d")
        assert call.overwatch is False
        flagged = await store.set_call_overwatch(call.id, True, "disp")
        assert flagged.overwatch is True
        assert (await store.get_call(call.id)).overwatch is True
        entry = [e for e in await store.audit_log() if e.action == "call.overwatch"][-1]
        assert (entry.actor, entry.details) == ("disp", {"overwatch": True})
        await store.set_call_status(call.id, "closed", "disp")
        with pytest.raises(Conflict):
            await store.set_call_overwatch(call.id, False, "disp")
        with pytest.raises(NotFound):
            await store.set_call_overwatch(999, True, "disp")
