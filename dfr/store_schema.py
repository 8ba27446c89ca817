"""The store's schema and its versioned migrations, for SQLite and PostgreSQL alike.

The schema is written once, in SQLite's SQL; `dfr.db_connection` translates it for
PostgreSQL. A database records its version in `schema_version`; `migrate` applies the
steps it lacks, in order, in one transaction holding the write lock, so two servers
starting together upgrade it once. Step 1 is the schema of the last release that had no
versions: a file that release (or an older one) wrote has no `schema_version`, is taken
as version 0 and brought up by step 1, which creates what it lacks and adds the columns
older files lack (`ADDED_COLUMNS`). A new change of the schema is a new step at the end
of `STEPS`; a database newer than the last step is refused (`NewerSchema`). (A store
section, `dfr.eta_store`, still creates its own tables when it attaches, if missing.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dfr.db_connection import Connection, begin_write, run_schema, table_columns

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    latitude_deg REAL NOT NULL,
    longitude_deg REAL NOT NULL,
    priority INTEGER NOT NULL,
    source TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    external_id TEXT,
    status TEXT NOT NULL DEFAULT 'new',
    call_type TEXT,  -- the caller's kind of incident (CAD's type code), lower case
    purpose TEXT,  -- a launch without a call: why it flies (dfr.purposes)
    location_uncertainty_m REAL,  -- radius around the position the scene may be in
    source_updated_at TEXT,  -- the sender's version of the call (an EIDO's, UTC): see
                             -- Store.take_call_version
    confidence REAL,  -- a gunshot sensor's confidence, 0..1
    rounds INTEGER,  -- and the rounds it counted
    policy TEXT,  -- the launch policy that took the call (dfr.auto_launch), if any
    policy_outcome TEXT,  -- what came of it: launched, awaiting_pilot, expired, left, ...
    policy_reason TEXT,  -- why, in a sentence the consoles show
    requester TEXT,  -- the officer who asked for a drone ("drone to me"), if one did
    overwatch INTEGER NOT NULL DEFAULT 0  -- 1: kept watched, drone after drone (dfr.overwatch)
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
    launched_at TEXT,
    policy TEXT,  -- the launch policy that sent it (its actor is policy:<name>)
    confirm_expires_at TEXT,  -- held for the pilot by a policy: until when (UTC)
    relieves INTEGER  -- overwatch: the sortie on scene this one takes over from
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
    reason TEXT NOT NULL DEFAULT '',
    prev_hash TEXT,  -- the hash of the entry before (dfr.audit_chain); 64 zeros for the first
    hash TEXT  -- SHA-256 of this entry's canonical JSON, prev_hash included
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id INTEGER NOT NULL,  -- the audit entry signed: the log's last entry then
    head_hash TEXT NOT NULL,  -- its hash
    at TEXT NOT NULL,
    kind TEXT NOT NULL,  -- start, interval, stop
    key_id TEXT NOT NULL,  -- SHA-256 of the signing key's public half
    signature TEXT NOT NULL  -- Ed25519, base64 (dfr.audit_signing)
);
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
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
CREATE TABLE IF NOT EXISTS sortie_transfers (
    sortie_id INTEGER NOT NULL REFERENCES sorties(id),
    kind TEXT NOT NULL,       -- mission | fence
    direction TEXT NOT NULL,  -- uploaded | read_back
    items TEXT NOT NULL,      -- JSON list of MAVLink items
    at TEXT NOT NULL,
    PRIMARY KEY (sortie_id, kind, direction)
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
""" + "".join(
    f"""
CREATE TABLE IF NOT EXISTS {table} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sortie_id INTEGER NOT NULL REFERENCES sorties(id),
    placed_by TEXT NOT NULL,
    placed_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    lifted_by TEXT,
    lifted_at TEXT,
    lift_reason TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS {table}_active ON {table}(sortie_id) WHERE lifted_at IS NULL;
CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, 'holds are kept'); END;
CREATE TRIGGER IF NOT EXISTS {table}_fixed BEFORE UPDATE OF id, sortie_id, placed_by,
    placed_at, reason ON {table}
BEGIN SELECT RAISE(ABORT, 'a hold is only ever lifted'); END;
CREATE TRIGGER IF NOT EXISTS {table}_lift_once BEFORE UPDATE OF lifted_by, lifted_at,
    lift_reason ON {table} WHEN OLD.lifted_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a hold is lifted once'); END;
"""
    for table in ("evidence_holds", "publication_holds")
)

#: Columns added since the first release, for files made before them: (table, column, type).
ADDED_COLUMNS = (
    ("audit", "outcome", "TEXT NOT NULL DEFAULT ''"),
    ("audit", "reason", "TEXT NOT NULL DEFAULT ''"),
    ("audit", "prev_hash", "TEXT"),
    ("audit", "hash", "TEXT"),
    ("drones", "out_of_service", "TEXT"),
    ("calls", "call_type", "TEXT"),
    ("calls", "purpose", "TEXT"),
    ("calls", "location_uncertainty_m", "REAL"),
    ("calls", "source_updated_at", "TEXT"),
    ("calls", "confidence", "REAL"),
    ("calls", "rounds", "INTEGER"),
    ("calls", "policy", "TEXT"),
    ("calls", "policy_outcome", "TEXT"),
    ("calls", "policy_reason", "TEXT"),
    ("calls", "requester", "TEXT"),
    ("sorties", "policy", "TEXT"),
    ("sorties", "confirm_expires_at", "TEXT"),
    ("calls", "overwatch", "INTEGER NOT NULL DEFAULT 0"),
    ("sorties", "relieves", "INTEGER"),
)


class NewerSchema(RuntimeError):
    """The database was written by a newer dfr: this one does not know its schema."""


@dataclass(frozen=True, slots=True)
class Step:
    """One migration: what it brings, and how (run in the migration's transaction)."""

    version: int
    summary: str
    apply: Callable[[Connection], None]


def _first_schema(c: Connection) -> None:
    run_schema(c, SCHEMA)
    for table, column, kind in ADDED_COLUMNS:
        if column not in table_columns(c, table):
            run_schema(c, f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _schema(script: str) -> Callable[[Connection], None]:
    return lambda c: run_schema(c, script)


#: The migrations, in order; append new ones (their versions follow on).
STEPS: tuple[Step, ...] = (
    Step(
        1,
        "the schema before versioned migrations (and the columns older files lack)",
        _first_schema,
    ),
    Step(
        2,
        "indexes for a sortie's events and a call's sorties",
        _schema(
            "CREATE INDEX IF NOT EXISTS sortie_events_by_sortie ON sortie_events(sortie_id, id);\n"
            "CREATE INDEX IF NOT EXISTS sorties_by_call ON sorties(call_id);\n"
        ),
    ),
    Step(
        3,
        "calls owned by an agency and shared with others (dfr.agencies)",
        _schema(
            "ALTER TABLE calls ADD COLUMN agency TEXT;\n"
            "ALTER TABLE calls ADD COLUMN shared_with TEXT NOT NULL DEFAULT '[]';\n"
        ),
    ),
)
LATEST = STEPS[-1].version

VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    summary TEXT NOT NULL,
    applied_at TEXT NOT NULL
);
"""


def schema_version(c: Connection) -> int:
    """The database's schema version: 0 for one written before versions (or empty)."""
    if not table_columns(c, "schema_version"):
        return 0
    return c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0


def newer_schema_message(found: int) -> str:
    return (
        f"the database's schema is version {found}, newer than this dfr knows ({LATEST}):"
        " run the dfr that wrote it, or a newer one"
    )


def migrate(c: Connection, applied_at: str, target: int = LATEST) -> tuple[int, int]:
    """Apply the steps the database lacks, up to `target`, in one writing transaction;
    returns (version found, version now). Raises NewerSchema for a database newer than
    this dfr knows, and leaves it untouched."""
    begin_write(c)
    try:
        found = schema_version(c)
        if found > LATEST:
            raise NewerSchema(newer_schema_message(found))
        if found < target:
            run_schema(c, VERSION_TABLE)
        for step in STEPS:
            if found < step.version <= target:
                step.apply(c)
                c.execute(
                    "INSERT INTO schema_version (version, summary, applied_at) VALUES (?, ?, ?)",
                    (step.version, step.summary, applied_at),
                )
    except BaseException:
        c.execute("ROLLBACK")
        raise
    c.execute("COMMIT")
    return found, max(found, min(target, LATEST))
