"""Re-tasking in the store: a flying sortie moves to another open call in one
transaction, the call it left is open again while it still needed the drone, and an
undo puts everything back."""

from __future__ import annotations

import pytest

from dfr.store import Conflict, NewCall, NotRetaskable, Store


async def flying_sortie(store: Store, state: str):  # noqa: ANN201
    first = await store.add_call(NewCall(38.26, -104.6, 3, "cad", "noise"), "d")
    await store.register_drones([("dfr-1", "hq")])
    sortie = await store.reserve("dfr-1", "hq", first.id, "d", route={"type": "LineString"})
    assert sortie is not None
    for step in ("launching", "en_route", "on_scene", "returning"):
        await store.record_sortie_state(sortie.id, step)
        if step == state:
            break
    return first, sortie


@pytest.mark.parametrize(("state", "left_open"), [("on_scene", True), ("returning", False)])
async def test_a_flying_sortie_moves_to_the_urgent_call(store_url, state, left_open) -> None:
    async with Store.open(store_url) as store:
        first, sortie = await flying_sortie(store, state)
        urgent = await store.add_call(NewCall(38.25, -104.61, 1, "cad", "shots"), "d")
        retasked = await store.retask(
            sortie.id, urgent.id, "disp", 42.0, {"type": "Point"}, first.id
        )
        assert retasked.sortie.call_id == urgent.id
        assert retasked.sortie.route == {"type": "Point"}
        assert retasked.call.status == "dispatched"
        assert retasked.previous is not None
        assert retasked.previous.id == first.id
        # On scene it still needed the drone: open again. Returning, it was served.
        assert retasked.previous.status == ("new" if left_open else "dispatched")
        audit = [e for e in await store.audit_log() if e.action == "sortie.retask"]
        assert audit[-1].details["from_call_id"] == first.id
        assert audit[-1].details["to_call_id"] == urgent.id
        # A call already taken cannot take it, and a landed sortie cannot be moved.
        with pytest.raises(Conflict):
            await store.retask(sortie.id, urgent.id, "disp", 42.0, {}, urgent.id)
        # Ranked while it served the first call, another dispatch moved it meanwhile.
        third = await store.add_call(NewCall(38.25, -104.62, 1, "cad", "crash"), "d")
        with pytest.raises(NotRetaskable):
            await store.retask(sortie.id, third.id, "disp", 42.0, {}, first.id)
        assert (await store.get_call(third.id)).status == "new"

        await store.undo_retask(retasked, "disp", "the vehicle refused the mission")
        assert (await store.get_sortie(sortie.id)).call_id == first.id
        assert (await store.get_sortie(sortie.id)).route == {"type": "LineString"}
        assert (await store.get_call(urgent.id)).status == "new"
        assert (await store.get_call(first.id)).status == "dispatched"


async def test_a_sortie_on_the_ground_is_not_retaskable(store_url) -> None:
    async with Store.open(store_url) as store:
        first, sortie = await flying_sortie(store, "launching")
        other = await store.add_call(NewCall(38.25, -104.61, 1, "cad", "shots"), "d")
        with pytest.raises(NotRetaskable):
            await store.retask(sortie.id, other.id, "disp", 42.0, {}, first.id)
        assert (await store.get_call(other.id)).status == "new"


async def test_an_undo_leaves_a_call_closed_meanwhile_closed(store_url) -> None:
    async with Store.open(store_url) as store:
        first, sortie = await flying_sortie(store, "on_scene")
        urgent = await store.add_call(NewCall(38.25, -104.61, 1, "cad", "shots"), "d")
        retasked = await store.retask(sortie.id, urgent.id, "disp", 42.0, {}, first.id)
        await store.set_call_status(first.id, "closed", "disp")
        await store.undo_retask(retasked, "disp", "the vehicle refused the mission")
        assert (await store.get_call(first.id)).status == "closed"
        assert (await store.get_sortie(sortie.id)).call_id == first.id
