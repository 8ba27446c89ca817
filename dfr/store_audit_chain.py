"""The audit chain in the store's database: the writing transaction every change runs
in, the append that chains each entry to the one before it (`dfr.audit_chain`), the
chaining of a log written before the chain existed, and the copy of signed checkpoints
the policy's file lacks. Functions on a connection, run on the store's thread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dfr.audit_chain import GENESIS_HASH, entry_hash
from dfr.audit_signing import Checkpoint, append_checkpoints, read_checkpoints
from dfr.db_connection import Connection, Dialect, begin_write, dialect_of
from dfr.store_records import ACCEPTED, utc_now


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, ROLLBACK on any error (autocommit connection)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        begin_write(self.conn)
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def transaction(conn: Connection) -> _Transaction:
    """BEGIN IMMEDIATE … COMMIT, ROLLBACK on any error: for a store section's writes."""
    return _Transaction(conn)


def audit_in(
    c: Connection,
    actor: str,
    action: str,
    subject: str,
    details: dict,
    outcome: str = ACCEPTED,
    reason: str = "",
) -> None:
    """Append an entry, chained to the last one; only inside a transaction, which holds
    the write lock: no other writer (thread or process) can chain to the same entry.
    The id follows the highest ever given (sqlite_sequence), as AUTOINCREMENT would."""
    last_id, prev_hash = c.execute(_AUDIT_HEAD[dialect_of(c)]).fetchone()
    entry = (
        (last_id or 0) + 1,
        utc_now(),
        actor,
        action,
        subject,
        json.dumps(details, sort_keys=True),
        outcome,
        reason,
        prev_hash or GENESIS_HASH,
    )
    c.execute(_AUDIT_INSERT, (*entry, entry_hash(*entry)))


_AUDIT_HEAD = {
    Dialect.SQLITE: "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'audit'),"
    " (SELECT hash FROM audit ORDER BY id DESC LIMIT 1)",
    # Entries are never deleted (a trigger refuses it): the highest id is the last given.
    Dialect.POSTGRESQL: "SELECT (SELECT MAX(id) FROM audit),"
    " (SELECT hash FROM audit ORDER BY id DESC LIMIT 1)",
}
_AUDIT_INSERT = (
    "INSERT INTO audit (id, at, actor, action, subject, details, outcome, reason, prev_hash,"
    " hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
CHECKPOINT_COLUMNS = "id, entry_id, head_hash, at, kind, key_id, signature"


def chain_unchained_entries(c: Connection) -> None:
    """Chain the entries of a file written before the chain existed, once: when no entry
    has a hash yet and nothing was ever signed. Entries without one in a chained log are
    left as they are, for `dfr audit verify` to report: chaining them would vouch for
    rows nobody can vouch for."""
    with transaction(c):
        if c.execute(
            "SELECT EXISTS (SELECT 1 FROM audit WHERE hash IS NOT NULL)"
            " OR EXISTS (SELECT 1 FROM audit_checkpoints)"
        ).fetchone()[0]:
            return
        rows = c.execute(
            "SELECT id, at, actor, action, subject, details, outcome, reason FROM audit ORDER BY id"
        ).fetchall()
        if not rows:
            return
        # The append-only trigger comes back as it was, in the same transaction.
        postgres = dialect_of(c) is Dialect.POSTGRESQL
        if postgres:
            c.execute("ALTER TABLE audit DISABLE TRIGGER audit_no_update")
        else:
            (trigger,) = c.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_no_update'"
            ).fetchone()
            c.execute("DROP TRIGGER audit_no_update")
        prev_hash = GENESIS_HASH
        chained = []
        for r in rows:
            entry_id, at, actor, action, subject, details, outcome, reason = r
            digest = entry_hash(
                entry_id, at, actor, action, subject, details, outcome, reason, prev_hash
            )
            chained.append((prev_hash, digest, r["id"]))
            prev_hash = digest
        c.executemany("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", chained)
        c.execute("ALTER TABLE audit ENABLE TRIGGER audit_no_update" if postgres else trigger)
        ids = [r["id"] for r in rows]
        details = {
            "entries": len(rows),
            "first_id": ids[0],
            "last_id": ids[-1],
            "missing_ids": _missing_ranges(ids),
        }
        audit_in(c, "system", "audit.chained", "", details)


def _missing_ranges(ids: list[int]) -> list[list[int]]:
    """[first, last] of each run of ids absent from 1..max(ids) (ids ascending)."""
    missing, expected = [], 1
    for i in ids:
        if i > expected:
            missing.append([expected, i - 1])
        expected = i + 1
    return missing


def copy_missing_checkpoints(c: Connection, path: Path) -> int:
    """Append to the checkpoints file those of the database it lacks (all of them to a new
    or lost file); returns the id of the database's last checkpoint. Lines that are not
    checkpoints are left as they are, for the verifier to report."""
    have: set[str] = set()
    if path.exists():
        found, _ = read_checkpoints(path)
        have = {cp.signature for cp in found}
    rows = c.execute(f"SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY id").fetchall()
    missing = [cp for cp in (Checkpoint(*tuple(r)[1:]) for r in rows) if cp.signature not in have]
    if missing:
        append_checkpoints(path, missing)
    return rows[-1]["id"] if rows else 0
