"""A database the previous release wrote opens with this one and loses nothing: every
row of every table reads back, and what is new (out of service, tracks, transfers,
video views, outcomes, the ETA calibration's tables) works on it. Schema versions: a file
without them is version 0 and is brought up to the latest; a database (SQLite or
PostgreSQL) at an earlier version is brought up, once; a newer one is refused as it is."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dfr.db_connection import Dialect, connect, dialect_of
from dfr.eta_calibration import FlownSample
from dfr.eta_store import EtaStore
from dfr.store import NewCall, NewVideoView, Store, StoreError, TrackPoint, utc_now
from dfr.store_schema import LATEST, STEPS, migrate, schema_version

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store" / "previous-release.sql"


async def test_a_previous_release_database_opens_and_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "dfr.sqlite"
    with sqlite3.connect(db) as old:
        old.executescript(FIXTURE.read_text())
    async with Store.open(db) as store:
        calls = await store.list_calls(None)
        assert [(c.id, c.status, c.summary) for c in calls] == [
            (1, "dispatched", "shots fired"),
            (2, "queued", "alarm"),
        ]
        assert [c.id for c in await store.queued_calls()] == [2]
        sortie = await store.get_sortie(1)
        assert sortie.state == "docked"
        assert [e.state for e in sortie.events] == [
            "reserved", "launching", "en_route", "on_scene", "docked",
        ]  # fmt: skip
        assert sortie.route["coordinates"][-1] == [-104.605, 38.259, 60.0]
        assert await store.drone_sorties() == {"dfr-1": None, "dfr-2": None, "dfr-3": None}
        old_entries = (await store.audit_log())[:4]
        assert [e.action for e in old_entries] == [
            "call.create", "sortie.dispatch", "sortie.launch", "sortie.release",
        ]  # fmt: skip
        assert [link.id for link in await store.share_links(1)] == ["link-1"]
        assert await store.revoked_sessions() == {"session-1"}
        # What this release adds works on the old file.
        await store.set_out_of_service("dfr-2", "prop damaged")
        assert await store.out_of_service() == {"dfr-2": "prop damaged"}
        point = TrackPoint(
            1, "2026-11-20T10:00:06.000Z", 104.0, 38.26, -104.6, 1490.0, 60.0,
            10.0, 18.0, "MISSION", 95.0, 38.259, -104.605,
        )  # fmt: skip
        await store.add_track_points([point])
        assert await store.track(1) == [point]
        await store.record_transfers(1, {"mission": {"uploaded": [], "read_back": []}})
        assert await store.transfers(1) == {"mission": {"uploaded": [], "read_back": []}}
        view = await store.start_video_view(
            NewVideoView("rtcc", "rtcc", None, "dfr-1", 1, 1, "127.0.0.1")
        )
        assert view.ended_at is None
        about = await store.audit_about(1, 1)
        assert {"call.create", "sortie.dispatch", "video.view.start"} <= {e.action for e in about}


async def test_a_previous_release_database_gains_the_eta_tables(tmp_path: Path) -> None:
    db = tmp_path / "dfr.sqlite"
    with sqlite3.connect(db) as old:
        old.executescript(FIXTURE.read_text())
        tables = {r[0] for r in old.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert not {"eta_samples", "eta_calibrations"} & tables
    async with Store.open(db) as store:
        section = await EtaStore.attach(store)
        sample = FlownSample("dfr-1", 1, (869.0,), (), 60.0, 18.0, 5.0, 4.4, 66.6)
        assert await section.add_sample(sample, keep=20) == [sample]
        assert await section.calibrations() == {}
        assert [c.id for c in await store.list_calls(None)] == [1, 2]  # nothing lost
    async with Store.open(db) as store:  # attached again: the tables are there, kept
        assert await (await EtaStore.attach(store)).samples("dfr-1") == [sample]


async def test_a_previous_release_file_is_version_0_and_migrates_to_the_latest(
    tmp_path: Path,
) -> None:
    db = tmp_path / "dfr.sqlite"
    with sqlite3.connect(db) as old:
        old.executescript(FIXTURE.read_text())
    conn = connect(str(db))
    assert schema_version(conn) == 0
    conn.close()
    async with Store.open(db) as store:
        assert store.schema_versions == (0, LATEST)
    async with Store.open(db) as store:  # nothing left to do
        assert store.schema_versions == (LATEST, LATEST)


async def test_a_database_at_an_earlier_version_is_brought_up(store_url: str) -> None:
    conn = connect(store_url)
    assert migrate(conn, utc_now(), target=1) == (0, 1)
    assert "sortie_events_by_sortie" not in _indexes(conn)
    conn.close()
    async with Store.open(store_url) as store:
        assert store.schema_versions == (1, LATEST)
        call = await store.add_call(NewCall(38.26, -104.6), "disp")
    conn = connect(store_url)
    assert {"sortie_events_by_sortie", "sorties_by_call"} <= _indexes(conn)
    versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [v[0] for v in versions] == [s.version for s in STEPS]
    assert migrate(conn, utc_now()) == (LATEST, LATEST)  # idempotent
    conn.close()
    async with Store.open(store_url) as store:
        assert await store.get_call(call.id) == call


async def test_a_database_newer_than_this_dfr_is_refused_untouched(store_url: str) -> None:
    async with Store.open(store_url) as store:
        await store.audit("admin", "login")
    conn = connect(store_url)
    conn.execute(
        "INSERT INTO schema_version (version, summary, applied_at) VALUES (?, 'later', 't')",
        (LATEST + 1,),
    )
    conn.close()
    with pytest.raises(StoreError, match=f"version {LATEST + 1}, newer than this dfr knows"):
        async with Store.open(store_url):
            pass
    conn = connect(store_url)
    assert schema_version(conn) == LATEST + 1
    assert conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 1
    conn.close()


def _indexes(conn) -> set[str]:
    if dialect_of(conn) is Dialect.POSTGRESQL:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
    else:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    return {r[0] for r in rows}
