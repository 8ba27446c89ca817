"""A sortie's state changes stored together: the row takes the last, the timeline keeps
them all in order, and a batch for no sortie stores nothing."""

from __future__ import annotations

import pytest

from dfr.store import NewCall, NotFound, Store


async def test_landed_and_docked_go_in_together(store_url) -> None:
    async with Store.open(store_url) as store:
        call = await store.add_call(NewCall(38.26, -104.6, 1, "cad", "shots"), "d")
        await store.register_drones([("dfr-1", "hq")])
        sortie = await store.reserve("dfr-1", "hq", call.id, "d", route={"type": "LineString"})
        assert sortie is not None
        await store.record_sortie_states(sortie.id, [])
        await store.record_sortie_states(
            sortie.id,
            [
                ("landed", "telemetry: on the ground, disarmed", 402.8),
                ("docked", "dock: 0.4 m from the dock", 402.8),
            ],
        )
        stored = await store.get_sortie(sortie.id)
        assert stored.state == "docked"
        assert [(e.state, e.vehicle_s) for e in stored.events[-2:]] == [
            ("landed", 402.8),
            ("docked", 402.8),
        ]
        before = len(stored.events)
        with pytest.raises(NotFound):
            await store.record_sortie_states(sortie.id + 1, [("docked", "dock", None)])
        assert len((await store.get_sortie(sortie.id)).events) == before
