"""What every part of the store stands on: `StoreBase` holds the connection and the one
worker thread every query runs on; it migrates the schema and chains an old audit log
when it starts, and with a checkpoint policy signs the audit chain's head as it grows
and when it closes. Beside it, the lookups several parts share (a call, a sortie, a
call's launch policy) and `at_most`, the LIMIT that means "all".
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple
from pathlib import Path
from typing import Any, TypeVar

from dfr.audit_signing import (
    INTERVAL,
    START,
    STOP,
    Checkpoint,
    CheckpointPolicy,
    append_checkpoints,
)
from dfr.db_connection import (
    Connection,
    DatabaseError,
    Dialect,
    connect,
    describe,
    is_cursor,
    is_postgres,
)
from dfr.store_audit_chain import (
    CHECKPOINT_COLUMNS,
    audit_in,
    chain_unchained_entries,
    copy_missing_checkpoints,
    transaction,
)
from dfr.store_records import (
    ACCEPTED,
    CallRecord,
    NotFound,
    SortieEvent,
    SortieRecord,
    StoreError,
    call_record,
    utc_now,
)
from dfr.store_schema import NewerSchema, migrate

T = TypeVar("T")
log = logging.getLogger("dfr.store")  # the name its lines have always been logged under


class StoreBase:
    """The connection, its worker thread and the audit checkpoints; each part of the
    store (`dfr.store_calls`, ...) adds the methods on its tables."""

    def __init__(self, path: Path | str, checkpoints: CheckpointPolicy | None = None) -> None:
        self.path = str(path)  # an SQLite file, or a PostgreSQL URL
        self.dialect = Dialect.POSTGRESQL if is_postgres(self.path) else Dialect.SQLITE
        #: The schema version the database had when opened, and has now.
        self.schema_versions = (0, 0)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dfr-store")
        self._conn: Connection | None = None
        self._checkpoints = checkpoints
        self._signed_through = 0  # the audit entry the last checkpoint signed
        # The connection's total_changes at which the head may be due for a checkpoint:
        # each entry is at least one change, so the head is not looked at after every write.
        self._look_at_changes = 0
        self._exported_through = 0  # the last checkpoint (its id) copied to the policy's file

    async def start(self) -> None:
        await self._run(self._connect)

    async def close(self) -> None:
        """Sign the audit chain's head (with a checkpoint policy), close the connection and
        the worker; safe to call twice."""
        conn = self._conn
        if conn is not None:
            if self._checkpoints is not None:
                await self._run(lambda: self._try_checkpoint(conn, STOP))
            await self._run(conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    # -- sections ---------------------------------------------------------------

    async def run_section(self, work: Callable[[Connection], T]) -> T:
        """Run `work` with the connection on the store's thread, as the store's own methods
        run: for a store section. `work` writes inside `transaction(c)` and audits there
        with `audit_in`. Raises StoreError when the store is not open."""
        return await self._run_conn(work)

    # -- plumbing ---------------------------------------------------------------

    def _connect(self) -> None:
        conn = connect(self.path)
        try:
            self.schema_versions = migrate(conn, utc_now())
            chain_unchained_entries(conn)
        except NewerSchema as exc:
            conn.close()
            raise StoreError(f"{describe(self.path)}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        if self._checkpoints is not None:
            row = conn.execute("SELECT MAX(entry_id) FROM audit_checkpoints").fetchone()
            self._signed_through = row[0] or 0
            if self._checkpoints.file is not None:
                self._exported_through = copy_missing_checkpoints(conn, self._checkpoints.file)
            self._checkpoint(conn, START)
        self._conn = conn

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def _run_conn(self, fn: Callable[[Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise StoreError("store is not open")
        work = _no_cursor_escapes(fn)
        if self._checkpoints is None:
            return await self._run(lambda: work(conn))
        return await self._run(lambda: self._then_checkpoint(work, conn))

    def _then_checkpoint(self, fn: Callable[[Connection], T], c: Connection) -> T:
        result = fn(c)
        if c.total_changes >= self._look_at_changes:
            self._try_checkpoint(c, INTERVAL)
        return result

    def _try_checkpoint(self, c: Connection, kind: str) -> None:
        # What came before is committed and stands: a checkpoint that cannot be written
        # now is written later (the next one signs everything before it too).
        try:
            self._checkpoint(c, kind)
        except (*DatabaseError, OSError):
            log.exception("could not write an audit checkpoint (%s)", kind)

    def _checkpoint(self, c: Connection, kind: str) -> None:
        """Sign the chain's head: at start and stop always (when there is a head), else
        once it is `every` entries past the last one signed. Then copy the checkpoints
        the policy's file lacks into it (those a failed write left out too)."""
        policy = self._checkpoints
        assert policy is not None
        head = c.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        behind = head["id"] - self._signed_through if head is not None else 0
        due = head is not None and (kind != INTERVAL or behind >= policy.every)
        if not due or head["hash"] is None:
            self._look_at_changes = c.total_changes + max(1, policy.every - behind)
            return
        signed = policy.key.sign(head["id"], head["hash"], utc_now(), kind)
        with transaction(c):
            c.execute(
                "INSERT INTO audit_checkpoints (entry_id, head_hash, at, kind, key_id, signature)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                astuple(signed),
            )
        self._signed_through = max(self._signed_through, head["id"])
        self._look_at_changes = c.total_changes + policy.every
        if policy.file is not None:
            rows = c.execute(
                f"SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE id > ? ORDER BY id",
                (self._exported_through,),
            ).fetchall()
            if rows:
                append_checkpoints(policy.file, [Checkpoint(*tuple(r)[1:]) for r in rows])
                self._exported_through = rows[-1]["id"]


def _no_cursor_escapes(
    fn: Callable[[Connection], T],
) -> Callable[[Connection], T]:
    """`fn`, closing a cursor it returns on the store's thread: a cursor let out to the
    event loop is finalised there when it is dropped, while the store's thread may be
    using the connection (SQLite answered "bad parameter or other API misuse")."""

    def work(c: Connection) -> T:
        result: Any = fn(c)
        if is_cursor(result):
            result.close()
            return None  # type: ignore[return-value]
        return result

    return work


def at_most(limit: int) -> int:
    """A LIMIT for `limit` rows, -1 for all (PostgreSQL takes no negative LIMIT)."""
    return limit if limit >= 0 else 2**62


def read_call(c: Connection, call_id: int) -> CallRecord:
    row = c.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
    if row is None:
        raise NotFound(f"no call {call_id}")
    return call_record(row)


def read_sortie(c: Connection, sortie_id: int) -> SortieRecord:
    row = c.execute("SELECT * FROM sorties WHERE id = ?", (sortie_id,)).fetchone()
    if row is None:
        raise NotFound(f"no sortie {sortie_id}")
    events = tuple(
        SortieEvent(at=e["at"], state=e["state"], vehicle_s=e["vehicle_s"], cause=e["cause"])
        for e in c.execute(
            "SELECT * FROM sortie_events WHERE sortie_id = ? ORDER BY id", (sortie_id,)
        ).fetchall()
    )
    data = dict(row)
    data["route"] = json.loads(data["route"])
    return SortieRecord(**data, events=events)


def write_policy(
    c: Connection,
    call_id: int,
    policy: str | None,
    outcome: str,
    reason: str,
    actor: str,
    audit_outcome: str = ACCEPTED,
) -> None:
    c.execute(
        "UPDATE calls SET policy = ?, policy_outcome = ?, policy_reason = ? WHERE id = ?",
        (policy, outcome, reason, call_id),
    )
    why = reason if audit_outcome != ACCEPTED else ""
    details = {"policy": policy, "outcome": outcome, "reason": reason}
    audit_in(c, actor, "call.policy", f"call:{call_id}", details, audit_outcome, why)
