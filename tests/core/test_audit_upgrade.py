"""A database written before the audit chain existed opens, loses nothing, and has its
audit entries chained at first start, with an `audit.chained` entry saying how many;
and a chained log is never chained again over rows someone changed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from dfr.audit_signing import CheckpointPolicy, SigningKey
from dfr.audit_verify import verify
from dfr.db_connection import IntegrityError, connect
from dfr.store import Store
from dfr.store_schema import migrate

# The schema as the release before the chain made it (dfr/store.py then), verbatim.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    latitude_deg REAL NOT NULL,
    longitude_deg REAL NOT NULL,
    priority INTEGER NOT NULL,
    source TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    external_id TEXT,
    status TEXT NOT NULL DEFAULT 'new'
);
CREATE TABLE IF NOT EXISTS drones (
    drone_id TEXT PRIMARY KEY,
    station_id TEXT NOT NULL,
    sortie_id INTEGER,
    out_of_service TEXT  -- why a person must look at it first; NULL: in service
);
CREATE TABLE IF NOT EXISTS sorties (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id INTEGER REFERENCES calls(id),
    drone_id TEXT NOT NULL,
    station_id TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    eta_s REAL,
    route TEXT NOT NULL DEFAULT '{}',
    launched_by TEXT,
    launched_at TEXT
);
CREATE TABLE IF NOT EXISTS sortie_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sortie_id INTEGER NOT NULL REFERENCES sorties(id),
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    vehicle_s REAL,
    cause TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}',
    outcome TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE INDEX IF NOT EXISTS calls_status ON calls(status, priority, id);
CREATE INDEX IF NOT EXISTS calls_external ON calls(source, external_id);
CREATE TABLE IF NOT EXISTS share_links (
    id TEXT PRIMARY KEY,
    call_id INTEGER NOT NULL REFERENCES calls(id),
    issued_by TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_by TEXT
);
CREATE TABLE IF NOT EXISTS revoked_sessions (
    session_id TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sortie_track (
    sortie_id INTEGER NOT NULL REFERENCES sorties(id),
    at TEXT NOT NULL,
    vehicle_s REAL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    alt_amsl_m REAL NOT NULL,
    alt_above_station_m REAL NOT NULL,
    heading_deg REAL,
    ground_speed_m_s REAL,
    flight_mode TEXT NOT NULL,
    battery_pct REAL,
    target_lat REAL,
    target_lon REAL
);
CREATE INDEX IF NOT EXISTS sortie_track_by_sortie ON sortie_track(sortie_id, at);
CREATE TABLE IF NOT EXISTS video_views (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    principal TEXT NOT NULL,
    role TEXT NOT NULL,
    share_link_id TEXT,
    stream_id TEXT NOT NULL,
    call_id INTEGER,
    sortie_id INTEGER,
    address TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    end_reason TEXT
);
CREATE INDEX IF NOT EXISTS video_views_stream ON video_views(stream_id, started_at);
CREATE INDEX IF NOT EXISTS video_views_call ON video_views(call_id);
CREATE INDEX IF NOT EXISTS video_views_sortie ON video_views(sortie_id);
CREATE INDEX IF NOT EXISTS video_views_open ON video_views(ended_at) WHERE ended_at IS NULL;
CREATE TRIGGER IF NOT EXISTS video_views_no_delete BEFORE DELETE ON video_views
BEGIN SELECT RAISE(ABORT, 'video views are kept'); END;
CREATE TRIGGER IF NOT EXISTS video_views_fixed BEFORE UPDATE OF id, principal, role,
    share_link_id, stream_id, call_id, sortie_id, address, started_at ON video_views
BEGIN SELECT RAISE(ABORT, 'a video view is only ever ended'); END;
CREATE TRIGGER IF NOT EXISTS video_views_end_once BEFORE UPDATE OF ended_at, end_reason
    ON video_views WHEN OLD.ended_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a video view ends once'); END;
"""

OLD_ROWS = {
    "calls": [
        (
            1,
            "2025-03-01T10:00:00.000+00:00",
            38.259,
            -104.605,
            1,
            "cad",
            "shots fired",
            "A-1",
            "dispatched",
        ),
        (2, "2025-03-01T10:05:00.000+00:00", 38.262, -104.601, 2, "manual", "", None, "closed"),
    ],
    "drones": [("dfr-1", "hq", None, None), ("dfr-2", "bessemer", None, "maintenance by pilot")],
    "sorties": [
        (
            1,
            1,
            "dfr-1",
            "hq",
            "docked",
            "2025-03-01T10:00:02.000+00:00",
            "disp",
            66.6,
            '{"waypoints": 2}',
            "pilot",
            "2025-03-01T10:00:03.000+00:00",
        ),
    ],
    "sortie_events": [
        (1, 1, "2025-03-01T10:00:02.000+00:00", "reserved", None, "dispatched by disp"),
        (2, 1, "2025-03-01T10:09:00.000+00:00", "docked", 540.0, ""),
    ],
    "audit": [
        (
            1,
            "2025-03-01T09:59:00.000+00:00",
            "disp",
            "login",
            "",
            '{"address": "10.0.0.5"}',
            "accepted",
            "",
        ),
        (
            2,
            "2025-03-01T10:00:00.000+00:00",
            "cad",
            "call.create",
            "call:1",
            '{"priority": 1}',
            "accepted",
            "",
        ),
        (
            3,
            "2025-03-01T10:00:02.000+00:00",
            "disp",
            "sortie.dispatch",
            "sortie:1",
            "{}",
            "accepted",
            "",
        ),
        (
            4,
            "2025-03-01T10:01:00.000+00:00",
            "pilot",
            "command.land",
            "drone:dfr-2",
            "{}",
            "refused",
            "drone dfr-2 has no sortie in flight",
        ),
        (5, "2025-03-01T10:05:00.000+00:00", "disp", "call.closed", "call:2", "{}", "", ""),
    ],
    "share_links": [("link-1", 1, "disp", "2025-03-01T10:00:30.000+00:00", None, None)],
    "revoked_sessions": [("session-1", "2025-03-01T10:30:00.000+00:00")],
    "sortie_track": [
        (
            1,
            "2025-03-01T10:00:05.000+00:00",
            5.0,
            38.2659,
            -104.6097,
            1440.0,
            10.0,
            90.0,
            0.0,
            "TAKEOFF",
            99.0,
            38.259,
            -104.605,
        ),
        (
            1,
            "2025-03-01T10:00:06.000+00:00",
            6.0,
            38.2658,
            -104.6090,
            1450.0,
            20.0,
            91.0,
            8.5,
            "MISSION",
            98.5,
            38.259,
            -104.605,
        ),
    ],
    "video_views": [
        (
            1,
            "rtcc",
            "rtcc",
            None,
            "dfr-1",
            1,
            1,
            "10.0.0.9",
            "2025-03-01T10:00:10.000+00:00",
            "2025-03-01T10:08:00.000+00:00",
            "left",
        ),
    ],
}


def build_old_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
        for table, rows in OLD_ROWS.items():
            marks = ", ".join("?" * len(rows[0]))
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    conn.close()


def old_columns(path: Path) -> dict[str, list[tuple]]:
    """Every table of the old schema, with the old columns only."""
    out = {}
    with sqlite3.connect(path) as conn:
        for table, rows in OLD_ROWS.items():
            names = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")][: len(rows[0])]
            out[table] = conn.execute(f"SELECT {', '.join(names)} FROM {table}").fetchall()
    conn.close()
    return out


def policy(directory: Path) -> CheckpointPolicy:
    key = SigningKey.load_or_create(directory / "audit-signing.key")
    return CheckpointPolicy(key, 100, directory / "audit-checkpoints.jsonl")


async def test_an_old_database_loses_nothing_and_its_entries_are_chained_once(tmp_path) -> None:
    path, signing = tmp_path / "dfr.sqlite", policy(tmp_path)
    build_old_database(path)
    before = old_columns(path)
    async with Store.open(path, signing) as store:
        calls = await store.list_calls()
        sortie = await store.get_sortie(1)
        track = await store.track(1)
        assert await store.out_of_service() == {"dfr-2": "maintenance by pilot"}
        assert await store.revoked_sessions() == {"session-1"}
        assert [v.end_reason for v in await store.video_views()] == ["left"]
        assert [link.id for link in await store.share_links(call_id=1)] == ["link-1"]
        await store.audit("disp", "login", details={"address": "10.0.0.5"})
        log = await store.audit_log()
    assert [c.summary for c in calls] == ["shots fired", ""]
    assert (sortie.route, [e.state for e in sortie.events]) == (
        {"waypoints": 2},
        ["reserved", "docked"],
    )
    assert [p.flight_mode for p in track] == ["TAKEOFF", "MISSION"]

    after = old_columns(path)
    assert after["audit"][:5] == before["audit"]  # the old entries as they were
    assert {t: r for t, r in after.items() if t != "audit"} == {
        t: r for t, r in before.items() if t != "audit"
    }
    chained, latest = log[5], log[6]
    assert (chained.actor, chained.action) == ("system", "audit.chained")
    assert chained.details == {"entries": 5, "first_id": 1, "last_id": 5, "missing_ids": []}
    assert latest.action == "login"
    assert log[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in zip(log, log[1:], strict=False))

    report = verify(path, signing.file, [signing.key.public])
    assert report.intact, report.text()
    assert "entries 1 to 5 were written before dfr chained its log" in report.text()

    async with Store.open(path, signing) as store:  # a second start chains nothing again
        again = await store.audit_log()
        kinds = [(c.kind, c.entry_id) for _, c in await store.audit_checkpoints()]
    assert [e.action for e in again].count("audit.chained") == 1
    assert kinds == [("start", 6), ("stop", 7), ("start", 7)]  # its stop: when it closes
    with sqlite3.connect(path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE audit SET actor = 'x' WHERE id = 1")  # still append-only
    conn.close()


async def test_a_chained_log_is_not_chained_again_over_erased_hashes(tmp_path) -> None:
    path, signing = tmp_path / "dfr.sqlite", policy(tmp_path)
    async with Store.open(path, signing) as store:
        for i in range(3):
            await store.audit("disp", "login", details={"i": i})
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET actor = 'x', prev_hash = NULL, hash = NULL")
    conn.close()
    async with Store.open(path, signing) as store:
        log = await store.audit_log()
    assert [e.hash for e in log] == [None, None, None]
    assert "audit.chained" not in [e.action for e in log]
    report = verify(path, signing.file, [signing.key.public])
    assert report.first_bad_entry == 1
    assert json.dumps(report.as_json())  # the report is JSON all through


async def test_unchained_entries_loaded_into_postgresql_are_chained_once(
    tmp_path, postgres_url
) -> None:
    conn = connect(postgres_url)
    migrate(conn, "2026-11-30T00:00:00.000+00:00")  # the schema, and entries without hashes
    conn.executemany(
        "INSERT INTO audit (id, at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?, ?)",
        [(i, f"2026-11-30T10:00:0{i}.000+00:00", "disp", "login", "", "{}") for i in (1, 2, 4)],
    )
    conn.close()
    signing = policy(tmp_path)
    async with Store.open(postgres_url, signing) as store:
        log = await store.audit_log()
    assert [e.id for e in log] == [1, 2, 4, 5]
    assert log[-1].details == {"entries": 3, "first_id": 1, "last_id": 4, "missing_ids": [[3, 3]]}
    assert all(b.prev_hash == a.hash for a, b in zip(log, log[1:], strict=False))
    report = verify(postgres_url, signing.file, [signing.key.public])
    assert "entries 1 to 4 were written before dfr chained its log" in report.text()
    conn = connect(postgres_url)
    with pytest.raises(IntegrityError, match="append-only"):  # the trigger is back
        conn.execute("UPDATE audit SET actor = 'x' WHERE id = 1")
    conn.close()
