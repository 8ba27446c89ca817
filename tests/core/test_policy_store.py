"""What launch policies keep in the store: a gunshot's confidence and rounds with its
call, what the policies did with it, a sortie's policy and confirmation deadline, and a
held launch withdrawn; a database of the previous release gains the columns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dfr.store import Conflict, NewCall, Store

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store" / "previous-release.sql"
DRONES = [("dfr-1", "hq"), ("dfr-2", "bessemer"), ("dfr-3", "eastside")]
SHOT = NewCall(
    38.262,
    -104.5645,
    1,
    "gunshot",
    "3 rounds",
    "G-1",
    call_type="gunshot",
    confidence=0.91,
    rounds=3,
)


async def test_a_previous_release_database_keeps_what_policies_need(tmp_path: Path) -> None:
    db = tmp_path / "dfr.sqlite"
    with sqlite3.connect(db) as old:
        old.executescript(FIXTURE.read_text())
    async with Store.open(db) as store:
        old_call = await store.get_call(1)
        assert (old_call.confidence, old_call.rounds, old_call.policy) == (None, None, None)
        assert (await store.get_sortie(1)).policy is None
        call, created = await store.add_external_call(SHOT, "gunshot-sensor")
        assert created
        assert (call.confidence, call.rounds) == (0.91, 3)
        noted = await store.set_call_policy(
            call.id, "gunshot-night", "launched", "launched by policy gunshot-night", "policy:x"
        )
        assert (noted.policy, noted.policy_outcome) == ("gunshot-night", "launched")
    async with Store.open(db) as store:  # and again: nothing added twice, nothing lost
        assert (await store.get_call(call.id)).policy_reason == "launched by policy gunshot-night"
        assert [c.id for c in await store.list_calls(None)] == [1, 2, call.id]


async def test_a_held_launch_is_withdrawn_once_and_never_after_it_launched(
    store_url,
) -> None:
    async with Store.open(store_url) as store:
        await store.register_drones(DRONES)
        call, _ = await store.add_external_call(SHOT, "gunshot-sensor")
        sortie = await store.reserve("dfr-3", "eastside", call.id, "policy:p", policy="p")
        assert sortie is not None
        assert sortie.policy == "p"
        held = await store.hold_for_pilot(sortie.id, "held", "2026-07-04T05:00:20.000+00:00")
        assert (held.state, held.confirm_expires_at) == (
            "awaiting_pilot",
            "2026-07-04T05:00:20.000+00:00",
        )
        reopened = await store.withdraw(sortie.id, "policy:p", "not confirmed", "expired")
        assert reopened is not None
        assert (reopened.status, reopened.policy, reopened.policy_outcome) == (
            "new",
            "p",
            "expired",
        )
        assert (await store.get_sortie(sortie.id)).state == "aborted"
        assert (await store.drone_sorties())["dfr-3"] is None
        with pytest.raises(Conflict):
            await store.withdraw(sortie.id, "policy:p", "again", "expired")
        # A launched sortie is flying: it is aborted in flight, never withdrawn.
        again = await store.reserve("dfr-3", "eastside", call.id, "policy:p", policy="p")
        assert again is not None
        await store.mark_launched(again.id, "policy:p")
        with pytest.raises(Conflict, match="cannot be withdrawn"):
            await store.withdraw(again.id, "pilot", "too late")
        entries = [(e.actor, e.action) for e in await store.audit_log()]
        assert ("policy:p", "sortie.release") in entries
        assert ("policy:p", "call.policy") in entries
        assert ("policy:p", "call.new") in entries
