"""The store's side of the audit: outcomes on every entry (older files included), one entry
per attempt."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from dfr.store import ACCEPTED, INTERRUPTED, REFUSED, Conflict, Store


async def test_an_older_file_gets_outcomes_and_keeps_its_entries(tmp_path) -> None:
    path = tmp_path / "dfr.sqlite"
    with sqlite3.connect(path) as old:  # the audit table as the first release made it
        old.execute(
            "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,"
            " actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL DEFAULT '',"
            " details TEXT NOT NULL DEFAULT '{}')"
        )
        old.execute("INSERT INTO audit (at, actor, action) VALUES ('2024-01-01', 'disp', 'login')")
    old.close()
    async with Store.open(path) as store:
        await store.audit("disp", "login", outcome=REFUSED, reason="wrong password")
        before, after = await store.audit_log()
    assert (before.actor, before.outcome, before.reason) == ("disp", "", "")
    assert (after.outcome, after.reason) == (REFUSED, "wrong password")


async def test_an_attempt_is_audited_once_with_its_outcome(tmp_path) -> None:
    async with Store.open(tmp_path / "dfr.sqlite") as store:
        async with store.attempt("pilot", "command.hold", "drone:dfr-1", {"a": 1}) as noted:
            noted["sortie_id"] = 7
        with pytest.raises(Conflict):
            async with store.attempt("pilot", "command.land", "drone:dfr-1"):
                raise Conflict("drone dfr-1 has no sortie in flight")
        with pytest.raises(Conflict):
            async with store.attempt("disp", "call.closed", "call:3", audit_accepted=False):
                raise Conflict("call 3 is closed")
        async with store.attempt("disp", "call.closed", "call:4", audit_accepted=False):
            pass  # the store audited the change itself

        async def cut_short() -> None:
            async with store.attempt("pilot", "command.orbit", "drone:dfr-1"):
                await asyncio.Event().wait()

        task = asyncio.create_task(cut_short())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        log = await store.audit_log()
    assert [(e.action, e.details, e.outcome, e.reason) for e in log] == [
        ("command.hold", {"a": 1, "sortie_id": 7}, ACCEPTED, ""),
        ("command.land", {}, REFUSED, "drone dfr-1 has no sortie in flight"),
        ("call.closed", {}, REFUSED, "call 3 is closed"),
        ("command.orbit", {}, INTERRUPTED, log[-1].reason),
    ]
    assert "cancelled" in log[-1].reason
