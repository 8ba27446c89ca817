"""`dfr audit verify`: checks dfr's audit log in a database file, reading only (a copy
taken with the server stopped will do), and names the first entry that was edited,
deleted, inserted or reordered.

It checks:

1. the chain (`dfr.audit_chain`): each entry's hash is that of its content and of the
   hash of the entry before it, and ids run 1, 2, 3... without a gap;
2. each signed checkpoint (`dfr.audit_signing`), from the database and from a
   checkpoints file kept elsewhere: its signature, with the public keys given (more
   than one when the server's key was ever replaced);
3. that the entry each checkpoint names still has the hash it signed: a log cut short,
   or rewritten and re-chained from some entry on, fails here;
4. that nothing was written while the server was stopped: a "stop" checkpoint is
   followed by a "start" one at the same entry, and the last "stop" is the log's end.

Errors::

    VerifyError     (Exception) the database, the key or the checkpoints file cannot be read
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dfr.audit_chain import GENESIS_HASH, entry_hash
from dfr.audit_report import Problem, Report
from dfr.audit_signing import (
    KINDS,
    START,
    STOP,
    Checkpoint,
    PublicKey,
    SigningKeyError,
    read_checkpoints,
)
from dfr.db_connection import (
    Connection,
    DatabaseError,
    connect,
    describe,
    is_postgres,
    table_columns,
)

#: Entries read on each side of the first one that fails, to tell what was done to it.
WINDOW = 2000
#: Entries that fail after the first one, listed by id in the report.
LISTED = 20

_ROWS = (
    "SELECT id, at, actor, action, subject, details, outcome, reason, prev_hash, hash FROM audit"
)


class VerifyError(Exception):
    """The database, the public key or the checkpoints file cannot be read."""


def verify(
    database: Path | str,
    checkpoints_file: Path | None = None,
    public_keys: Sequence[PublicKey] = (),
) -> Report:
    """Check the audit log in `database` (an SQLite file or a PostgreSQL URL, opened
    read-only), with the checkpoints of the database and of `checkpoints_file`, their
    signatures with `public_keys` (a checkpoint holds when one of them signed it; none
    given: not checked, and said so). Raises VerifyError when a file cannot be read."""
    file_checkpoints: list[Checkpoint] | None = None
    report = Report(describe(str(database)), key_ids=[k.key_id for k in public_keys])
    if checkpoints_file is not None:
        try:
            file_checkpoints, wrong = read_checkpoints(checkpoints_file)
        except (OSError, UnicodeDecodeError) as exc:
            raise VerifyError(f"{checkpoints_file}: cannot read it: {exc}") from exc
        report.notes += [f"{checkpoints_file}: {w} (not a checkpoint, left out)" for w in wrong]
        report.checkpoints_in_file = len(file_checkpoints)
    conn = _open_read_only(database)
    try:
        db_checkpoints = _database_checkpoints(conn)
        report.checkpoints_in_database = len(db_checkpoints)
        every = db_checkpoints + (file_checkpoints or [])
        walk = _walk(conn, {c.entry_id for c in every})
        report.entries, report.head_id, report.head_hash = walk.entries, walk.head_id, walk.head
        if walk.failures:
            report.problems.append(_diagnose(conn, walk.failures[0]))
            if walk.failed > 1:
                more = ", ".join(str(i) for i in walk.failures[1:])
                report.notes.append(
                    f"{walk.failed - 1} more entries fail the chain's check after it"
                    f" (entries {more}{', ...' if walk.failed > len(walk.failures) else ''})"
                )
        report.notes += _chained_after_the_fact(conn)
    finally:
        conn.close()
    # Each checkpoint's signature checked once: the same one is often in both places.
    signed = {
        cp: not public_keys or any(k.signed(cp) for k in public_keys)
        for cp in db_checkpoints + (file_checkpoints or [])
    }
    _check_checkpoints(report, signed, walk.hashes)
    if checkpoints_file is not None and file_checkpoints is not None:
        _compare_sources(report, db_checkpoints, file_checkpoints, checkpoints_file, signed)
    return report


def read_public_key(path: Path) -> PublicKey:
    """Raises VerifyError naming the file."""
    try:
        return PublicKey.read(path)
    except SigningKeyError as exc:
        raise VerifyError(str(exc)) from exc


# -- the chain -------------------------------------------------------------------------


@dataclass(slots=True)
class _Walk:
    entries: int = 0
    head_id: int | None = None
    head: str | None = None
    failures: list[int] = field(default_factory=list)  # the first LISTED + 1 failing ids
    failed: int = 0
    hashes: dict[int, str | None] = field(default_factory=dict)  # of the entries signed


def _walk(conn: Connection, signed: set[int]) -> _Walk:
    """One pass in id order: count, and note each entry whose hash, link or id fails."""
    walk = _Walk()
    prev_id, prev_hash = 0, GENESIS_HASH
    for row in conn.execute(_ROWS + " ORDER BY id"):
        entry_id, at, actor, action, subject, details, outcome, reason, prev, digest = row
        walk.entries += 1
        if entry_id in signed:
            walk.hashes[entry_id] = digest
        try:
            holds = (
                entry_id == prev_id + 1
                and prev == prev_hash
                and digest is not None
                and digest
                == entry_hash(entry_id, at, actor, action, subject, details, outcome, reason, prev)
            )
        except TypeError:  # a value that is not text: dfr never wrote it
            holds = False
        if not holds:
            walk.failed += 1
            if len(walk.failures) <= LISTED:
                walk.failures.append(entry_id)
        prev_id, prev_hash = entry_id, digest
    walk.head_id, walk.head = (prev_id, prev_hash) if walk.entries else (None, None)
    return walk


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    content: tuple[str, str, str, str, str, str, str]  # at, actor, ... reason, as stored
    prev_hash: str | None
    hash: str | None

    def hash_as(self, entry_id: int) -> str | None:
        """Its hash had it been written as entry `entry_id` (None: not text)."""
        if self.prev_hash is None:
            return None
        try:
            return entry_hash(entry_id, *self.content, self.prev_hash)
        except TypeError:
            return None


def _diagnose(conn: Connection, failing_id: int) -> Problem:
    """What was done at the first entry that fails: read the entries around it, find
    where each was chained and which id its hash was made with."""
    earlier = conn.execute(_ROWS + " WHERE id < ? ORDER BY id DESC LIMIT ?", (failing_id, WINDOW))
    later = conn.execute(_ROWS + " WHERE id >= ? ORDER BY id LIMIT ?", (failing_id, WINDOW))
    before_rows = [_row(r) for r in earlier.fetchall()][::-1]
    rows = before_rows + [_row(r) for r in later.fetchall()]
    pos = len(before_rows)
    r = rows[pos]
    b_id, b_hash = (rows[pos - 1].id, rows[pos - 1].hash) if pos else (0, GENESIS_HASH)
    after = rows[pos + 1] if pos + 1 < len(rows) else None
    where = {row.hash: i for i, row in enumerate(rows) if row.hash is not None}

    if r.hash is None or r.prev_hash is None:
        return Problem(
            "inserted",
            r.id,
            f"entry {r.id} has no hash: it was put into the file by something other than"
            " dfr (or its hash was erased)",
        )
    linked = where.get(r.prev_hash)  # the entry r was chained to, where it is now
    if linked is not None and linked > pos:
        return Problem(
            "reordered",
            r.id,
            f"entry {r.id} was chained to the entry now numbered {rows[linked].id}, which"
            " comes after it: entries were reordered",
        )
    if r.hash_as(r.id) != r.hash:
        written_as = next(
            (i for i in range(max(1, r.id - WINDOW), r.id + WINDOW) if r.hash_as(i) == r.hash),
            None,
        )
        if written_as is None:
            if after is not None and after.prev_hash == b_hash:
                return Problem(
                    "inserted",
                    r.id,
                    f"entry {r.id} was inserted: entry {after.id}, after it, was chained to"
                    f" {_entry_or_start(b_id)}",
                )
            return Problem(
                "edited", r.id, f"entry {r.id} was edited: its content no longer gives its hash"
            )
        if written_as < r.id:
            return Problem(
                "inserted",
                written_as,
                f"{_span(written_as, r.id - 1)} inserted and the entries after renumbered:"
                f" entry {r.id} was written as entry {written_as}",
            )
        if written_as - 1 >= b_id + 1:
            return Problem(
                "deleted",
                b_id + 1,
                f"{_span(b_id + 1, written_as - 1)} deleted and the entries after renumbered:"
                f" entry {r.id} was written as entry {written_as}",
            )
        return Problem(
            "reordered", r.id, f"entry {r.id} was renumbered: it was written as entry {written_as}"
        )
    if r.id > b_id + 1:
        after_gone = r.prev_hash == b_hash
        return Problem(
            "deleted",
            b_id + 1,
            f"{_span(b_id + 1, r.id - 1, 'is', 'are')} missing: deleted"
            + (f" (entry {r.id} was written after they were gone)" if after_gone else ""),
        )
    if linked is not None and linked < pos - 1:
        first = rows[linked + 1].id
        return Problem(
            "inserted",
            first,
            f"{_span(first, b_id)} inserted: entry {r.id} was chained to entry {rows[linked].id}",
        )
    if pos == 0:
        return Problem(
            "deleted",
            r.id,
            f"entry {r.id} was chained to an entry that is no longer in the log",
        )
    return Problem(
        "inserted",
        b_id,
        f"entry {b_id} is not the entry that entry {r.id} was chained to: it was inserted or"
        " replaced, with a hash computed for it",
    )


def _row(r: Sequence) -> _Row:
    return _Row(r[0], (r[1], r[2], r[3], r[4], r[5], r[6], r[7]), r[8], r[9])


def _chained_after_the_fact(conn: Connection) -> list[str]:
    row = conn.execute(
        "SELECT id, at, details FROM audit WHERE action = 'audit.chained' AND actor = 'system'"
        " ORDER BY id LIMIT 1"
    ).fetchone()
    if row is None:
        return []
    try:
        details = json.loads(row[2])
        first, last = int(details["first_id"]), int(details["last_id"])
    except (ValueError, TypeError, KeyError):
        return [f"entry {row[0]} (audit.chained) does not say which entries it chained"]
    return [
        f"{_span(first, last)} written before dfr chained its log and chained on {row[1]}"
        f" (entry {row[0]}, audit.chained): the chain shows they are unchanged since then,"
        " not before"
    ]


# -- the checkpoints ---------------------------------------------------------------------


def _check_checkpoints(
    report: Report,
    signed: dict[Checkpoint, bool],
    hashes: dict[int, str | None],
) -> None:
    """`signed`: each checkpoint (once, database's first), whether its signature holds."""
    head = report.head_id or 0
    holding: list[Checkpoint] = []
    for cp, holds in signed.items():
        if not holds:
            known = cp.key_id in report.key_ids
            other = "" if known else f" (it names another key, {cp.key_id})"
            report.problems.append(
                Problem(
                    "forged_checkpoint",
                    cp.entry_id,
                    f"the {cp.kind} checkpoint of entry {cp.entry_id} dated {cp.at} is not"
                    f" signed by a key given{other}: forged",
                )
            )
        elif cp.kind in KINDS:
            holding.append(cp)
    holding.sort(key=lambda c: (str(c.at), KINDS.index(c.kind), c.entry_id))
    if not report.key_ids and holding:
        report.notes.append(
            "the checkpoints below were NOT checked against a public key: give --public-key"
        )

    beyond = [c for c in holding if c.entry_id > head]
    truncated = max(beyond, key=lambda c: c.entry_id, default=None)
    if truncated is not None:
        report.problems.append(
            Problem(
                "truncated",
                head + 1,
                f"the log ends at entry {head}, but the {truncated.kind} checkpoint of"
                f" {truncated.at} signed entry {truncated.entry_id}:"
                f" {_span(head + 1, truncated.entry_id)} deleted",
            )
        )
    matched = 0  # the last entry below the one checked that a checkpoint signed as it is
    for cp in sorted(holding, key=lambda c: c.entry_id):
        if cp.entry_id > head:
            break
        if hashes.get(cp.entry_id) == cp.head_hash:
            matched = cp.entry_id if cp.entry_id > matched else matched
            continue
        first = min(matched, cp.entry_id - 1) + 1
        what = "is missing" if cp.entry_id not in hashes else "no longer has the hash it signed"
        # A break the chain located in that stretch is where the change begins.
        located = [p.entry_id for p in report.problems if first <= p.entry_id <= cp.entry_id]
        report.problems.append(
            Problem(
                "rewritten",
                min(located, default=first),
                f"entry {cp.entry_id} {what} (the {cp.kind} checkpoint of {cp.at}): the log was"
                f" changed from entry {first} to entry {cp.entry_id}"
                + ("" if located else ", and re-chained"),
            )
        )
        break

    for a, b in zip(holding, holding[1:], strict=False):
        if a.kind == STOP and b.kind == START and b.entry_id > a.entry_id:
            report.problems.append(
                Problem(
                    "inserted",
                    a.entry_id + 1,
                    f"{_span(a.entry_id + 1, b.entry_id)} written while the server was stopped:"
                    f" after the stop checkpoint of {a.at} (entry {a.entry_id}) and before the"
                    f" start of {b.at} (entry {b.entry_id})",
                )
            )
    report.checkpoints_valid = len(holding)
    if not holding:
        report.notes.append(
            "no checkpoint holds: the chain shows the entries agree with each other, but not"
            " that none were removed from its end or that it was not rewritten as a whole"
        )
        return
    latest = report.latest = holding[-1]
    if head > latest.entry_id:
        span = _span(latest.entry_id + 1, head)
        if latest.kind == STOP:
            report.problems.append(
                Problem(
                    "inserted",
                    latest.entry_id + 1,
                    f"{span} written after the server stopped: its stop checkpoint of"
                    f" {latest.at} signed entry {latest.entry_id}",
                )
            )
        else:
            report.notes.append(
                f"{span} written after the latest checkpoint ({latest.kind}, {latest.at}): the"
                " chain covers them, no signature yet (the server is running, or did not stop"
                " cleanly)"
            )
    report.head_signed = head == latest.entry_id and hashes.get(head) == latest.head_hash


def _compare_sources(
    report: Report,
    in_database: list[Checkpoint],
    in_file: list[Checkpoint],
    path: Path,
    signed: dict[Checkpoint, bool],
) -> None:
    """A checkpoint the file has, signed, and the database lacks was deleted from it."""
    have = set(in_database)
    for cp in in_file:
        if cp not in have and signed[cp]:
            report.problems.append(
                Problem(
                    "checkpoint_missing",
                    cp.entry_id,
                    f"the {cp.kind} checkpoint of entry {cp.entry_id} dated {cp.at} is in {path}"
                    " but not in the database: deleted from it",
                )
            )
    missing = len(have - set(in_file))
    if missing:
        report.notes.append(
            f"{missing} checkpoint(s) of the database are not in {path} (a copy taken before"
            " they were written?)"
        )


# -- reading ------------------------------------------------------------------------------


def _open_read_only(database: Path | str) -> Connection:
    """A PostgreSQL database is read in read-only transactions. An SQLite file without a
    write-ahead log beside it (a server stopped cleanly leaves none) is opened immutable:
    nothing is written, not even SQLite's shared-memory file, so a copy on
    write-protected media will do. With one, read-only, taking what it holds."""
    if is_postgres(str(database)):
        return _open_postgres(str(database))
    path = Path(database)
    if not path.is_file():
        raise VerifyError(f"{path}: no such database file")
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as exc:
        raise VerifyError(f"{path}: cannot read it as SQLite: {exc}") from exc
    if "audit" not in tables:
        conn.close()
        raise VerifyError(f"{path}: no audit table: not a dfr database")
    columns = {r[1] for r in conn.execute("PRAGMA table_info(audit)")}
    if not {"prev_hash", "hash"} <= columns:
        conn.close()
        raise VerifyError(
            f"{path}: its audit log was never chained (start dfr once with this database)"
        )
    return conn


def _open_postgres(url: str) -> Connection:
    try:
        conn = connect(url)
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        columns = table_columns(conn, "audit")
    except DatabaseError as exc:
        raise VerifyError(f"{describe(url)}: cannot read it: {exc}") from exc
    if not {"prev_hash", "hash"} <= columns:
        conn.close()
        raise VerifyError(f"{describe(url)}: no chained audit table: not a dfr database")
    return conn


def _database_checkpoints(conn: Connection) -> list[Checkpoint]:
    if not table_columns(conn, "audit_checkpoints"):  # no checkpoints
        return []
    rows = conn.execute(
        "SELECT entry_id, head_hash, at, kind, key_id, signature FROM audit_checkpoints ORDER BY id"
    ).fetchall()
    return [Checkpoint(*r) for r in rows]


def _span(first: int, last: int, one: str = "was", several: str = "were") -> str:
    """ "entry 7 was", "entries 7 to 9 were" (or another verb)."""
    return f"entry {first} {one}" if first == last else f"entries {first} to {last} {several}"


def _entry_or_start(entry_id: int) -> str:
    return f"entry {entry_id}" if entry_id else "the start of the log"
