"""The store's side of the audit: outcomes on every entry (older files included), one entry
per attempt, and video views that are only ever ended, once, and found by sortie or call."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

import pytest

from dfr.db_connection import IntegrityError, connect
from dfr.store import (
    ACCEPTED,
    INTERRUPTED,
    REFUSED,
    Conflict,
    NewVideoView,
    Store,
)
from missions.sortie import FINAL_STATES

FINAL = [str(s) for s in FINAL_STATES]


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
        before, chained, after = await store.audit_log()
    assert (before.actor, before.outcome, before.reason) == ("disp", "", "")
    assert (chained.action, chained.details["entries"]) == ("audit.chained", 1)
    assert (after.outcome, after.reason) == (REFUSED, "wrong password")
    assert after.prev_hash == chained.hash
    assert chained.prev_hash == before.hash


async def test_an_attempt_is_audited_once_with_its_outcome(store_url) -> None:
    async with Store.open(store_url) as store:
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


def view(stream_id: str, call_id: int | None = None, sortie_id: int | None = None) -> NewVideoView:
    return NewVideoView("rtcc", "rtcc", None, stream_id, call_id, sortie_id, "10.0.0.5")


async def test_a_view_ends_once_and_is_never_rewritten(store_url) -> None:
    async with Store.open(store_url) as store:
        started = await store.start_video_view(view("dfr-1"))
        ended = await store.end_video_view(started.id, "left")
        assert ended is not None
        assert (ended.end_reason, ended.ended_at is not None) == ("left", True)
        assert await store.end_video_view(started.id, "again") is None
        still_open = await store.start_video_view(view("dfr-2"))
        (closed,) = await store.end_open_video_views("restart")
        assert (closed.id, closed.end_reason) == (still_open.id, "restart")
        actions = [(e.action, e.details["view_id"]) for e in await store.audit_log()]
    assert actions == [
        ("video.view.start", started.id),
        ("video.view.end", started.id),
        ("video.view.start", still_open.id),
        ("video.view.end", still_open.id),
    ]
    with closing(connect(store_url)) as conn:
        for sql in (
            "UPDATE video_views SET ended_at = '2000-01-01' WHERE id = 1",
            "UPDATE video_views SET principal = 'someone else'",
            "DELETE FROM video_views",
        ):
            with pytest.raises(IntegrityError):
                conn.execute(sql)


async def test_views_of_a_sortie_are_those_of_its_drone_while_it_lasted(store_url) -> None:
    path = store_url
    async with Store.open(path):
        pass  # the schema
    with closing(connect(store_url)) as conn:
        conn.execute(
            "INSERT INTO calls (id, created_at, latitude_deg, longitude_deg, priority, source)"
            " VALUES (1, 't', 38.2, -104.6, 1, 'cad')"
        )
        conn.execute(
            "INSERT INTO sorties (id, call_id, drone_id, station_id, state, created_at,"
            " created_by) VALUES (5, 1, 'dfr-1', 'hq', 'docked', '2025-01-01T10:00', 'disp')"
        )
        for at, state in (("2025-01-01T10:01", "en_route"), ("2025-01-01T10:20", "docked")):
            conn.execute(
                "INSERT INTO sortie_events (sortie_id, at, state) VALUES (5, ?, ?)", (at, state)
            )
        rows = [  # stream, call, sortie, started, ended
            ("dfr-1", None, None, "2025-01-01T09:00", "2025-01-01T09:59"),  # before: no
            ("dfr-1", None, None, "2025-01-01T09:30", "2025-01-01T10:05"),  # overlaps: yes
            ("dfr-1", 1, 5, "2025-01-01T10:02", "2025-01-01T10:10"),  # for it: yes
            ("dfr-2", None, None, "2025-01-01T10:02", None),  # another drone: no
            ("dfr-1", None, None, "2025-01-01T10:30", None),  # after it ended: no
            ("dfr-1", None, None, "2025-01-01T10:15", None),  # still watching: yes
        ]
        conn.executemany(
            "INSERT INTO video_views (principal, role, stream_id, call_id, sortie_id, address,"
            " started_at, ended_at) VALUES ('rtcc', 'rtcc', ?, ?, ?, '10.0.0.5', ?, ?)",
            rows,
        )
    async with Store.open(path) as store:
        of_sortie = [v.id for v in await store.video_views_of_sortie(5, FINAL)]
        of_call = [v.id for v in await store.video_views_of_call(1, FINAL)]
        paged = [v.id for v in await store.video_views_of_call(1, FINAL, after_id=2, limit=1)]
        nothing = await store.video_views_of_sortie(99, FINAL)
    assert of_sortie == of_call == [2, 3, 6]
    assert paged == [3]
    assert nothing == []
