"""Evidence and publication holds in the store: one of a kind at a time, placed and lifted
with who and why in the same transaction as the audit entry, never deleted or rewritten."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from dfr.db_connection import IntegrityError, connect
from dfr.store import Conflict, HoldKind, NewCall, NotFound, Store


async def test_holds_are_placed_lifted_and_kept_with_who_and_why(store_url) -> None:
    path = store_url
    async with Store.open(path) as store:
        call = await store.add_call(NewCall(38.26, -104.6, 1, "cad", "x", call_type="fire"), "d")
        assert call.call_type == "fire"
        await store.register_drones([("dfr-1", "hq")])
        sortie = await store.reserve("dfr-1", "hq", call.id, "d")
        assert sortie is not None
        with pytest.raises(NotFound):
            await store.place_hold(HoldKind.EVIDENCE, 999, "carol", "no such sortie")
        with pytest.raises(Conflict):
            await store.lift_hold(HoldKind.EVIDENCE, sortie.id, "carol", "nothing to lift")

        placed = await store.place_hold(HoldKind.EVIDENCE, sortie.id, "carol", "case 12")
        assert (placed.active, placed.placed_by, placed.reason) == (True, "carol", "case 12")
        # The kinds are independent: an evidence hold does not keep it from the public.
        assert await store.held_sorties(HoldKind.PUBLICATION) == set()
        assert await store.held_sorties(HoldKind.EVIDENCE) == {sortie.id}
        lifted = await store.lift_hold(HoldKind.EVIDENCE, sortie.id, "dave", "case closed")
        assert (lifted.active, lifted.lifted_by, lifted.lift_reason) == (
            False,
            "dave",
            "case closed",
        )
        again = await store.place_hold(HoldKind.EVIDENCE, sortie.id, "carol", "case reopened")
        assert [h.reason for h in await store.holds(HoldKind.EVIDENCE, sortie.id)] == [
            "case 12",
            "case reopened",
        ]
        audit = [(e.actor, e.action, e.details) for e in await store.audit_log()]
    assert audit[-3:] == [
        ("carol", "evidence_hold.place", {"hold_id": placed.id, "reason": "case 12"}),
        ("dave", "evidence_hold.lift", {"hold_id": placed.id, "reason": "case closed"}),
        ("carol", "evidence_hold.place", {"hold_id": again.id, "reason": "case reopened"}),
    ]
    with closing(connect(store_url)) as conn:
        for sql in (
            "DELETE FROM evidence_holds",
            "UPDATE evidence_holds SET reason = 'something else'",
            f"UPDATE evidence_holds SET lifted_by = 'eve' WHERE id = {placed.id}",
        ):
            with pytest.raises(IntegrityError):
                conn.execute(sql)


async def test_an_older_file_gets_call_types_and_purposes(tmp_path) -> None:
    path = tmp_path / "dfr.sqlite"
    with sqlite3.connect(path) as old:  # the calls table before call types and purposes
        old.execute(
            "CREATE TABLE calls (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL,"
            " latitude_deg REAL NOT NULL, longitude_deg REAL NOT NULL, priority INTEGER NOT NULL,"
            " source TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '', external_id TEXT,"
            " status TEXT NOT NULL DEFAULT 'new')"
        )
        old.execute(
            "INSERT INTO calls (created_at, latitude_deg, longitude_deg, priority, source)"
            " VALUES ('2024-01-01', 38.2, -104.6, 1, 'cad')"
        )
    old.close()
    async with Store.open(path) as store:
        training = NewCall(38.2, -104.6, 1, "map", "launch", purpose="training")
        await store.add_call(training, "bob")
        before, after = await store.list_calls()
        entry = (await store.audit_log())[-1]
    assert (before.call_type, before.purpose) == (None, None)
    assert (after.call_type, after.purpose) == (None, "training")
    assert entry.details["purpose"] == "training"
