"""The store's database connection: an SQLite file (the embedded default) or a PostgreSQL
server (one database several dfr servers share), with one surface for both.

The store writes SQLite's SQL, kept portable where it can be (`ON CONFLICT`, `RETURNING`,
no `LIMIT -1`); this module is the only one that imports psycopg, and it gives the
store's worker thread a PostgreSQL connection that answers like `sqlite3.Connection`:
`execute(sql, params)` with `?` placeholders, `executemany`, `executescript`, rows read
by column name and by index (`dict(row)`, `tuple(row)`), `rowcount`, `total_changes`.
Schema statements are translated once, here (`translate_ddl`): `INTEGER PRIMARY KEY
AUTOINCREMENT` becomes an identity column, REAL double precision, and SQLite's
`RAISE(ABORT, ...)` triggers PL/pgSQL ones raising an integrity error with the same
message. A table without a primary key gets a `rowid`, as SQLite gives every table one.

`begin_write` is `BEGIN IMMEDIATE` on SQLite and `BEGIN` plus a transaction-wide
advisory lock on PostgreSQL: either way one writer at a time across every process, which
the audit chain and drone reservations rely on.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import RowMaker

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
#: The advisory lock every writing transaction takes on PostgreSQL ("dfr" in ASCII).
WRITE_LOCK_KEY = 0x646672

#: What either database raises.
DatabaseError: tuple[type[sqlite3.Error], type[psycopg.Error]] = (sqlite3.Error, psycopg.Error)
#: A refused write: a constraint or an append-only trigger.
IntegrityError: tuple[type[sqlite3.IntegrityError], type[psycopg.IntegrityError]] = (
    sqlite3.IntegrityError,
    psycopg.IntegrityError,
)
_CURSORS = (sqlite3.Cursor, psycopg.Cursor)


class Dialect(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


def is_postgres(target: str) -> bool:
    """Whether `target` (a path or a URL) names a PostgreSQL database."""
    return str(target).startswith(POSTGRES_SCHEMES)


def describe(target: str) -> str:
    """`target` fit to print: a URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", str(target))


class Row(tuple):
    """A row readable by index and by column name, like `sqlite3.Row`."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _rows(cursor: Any) -> RowMaker[Row]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)


class PgConnection:
    """A psycopg connection (autocommit: transactions are explicit, as on SQLite) with
    the surface of `sqlite3.Connection` the store uses."""

    def __init__(self, url: str) -> None:
        self.url = url
        # No server-side prepared statements: a `SELECT *` prepared before another server
        # migrated the schema would fail ("cached plan must not change result type").
        self._conn = psycopg.connect(
            url, autocommit=True, row_factory=_rows, application_name="dfr", prepare_threshold=None
        )
        self.total_changes = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:  # a cursor, as sqlite3's
        cur = self._conn.execute(translate(sql, bool(params)), tuple(params) or None)
        self._count(cur)
        return cur

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        cur = self._conn.cursor()
        cur.executemany(translate(sql, True), [tuple(r) for r in rows])
        self._count(cur)
        return cur

    def executescript(self, script: str) -> None:
        """Run schema statements (SQLite's), translated, in one writing transaction
        unless one is open already."""
        own = self._conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if own:
            begin_write(self)
        try:
            for statement in split_statements(script):
                for translated in translate_ddl(statement):
                    self._conn.execute(translated)
        except BaseException:
            if own:
                self._conn.execute("ROLLBACK")
            raise
        if own:
            self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()

    def _count(self, cur: psycopg.Cursor[Row]) -> None:
        status = cur.statusmessage or ""
        if status.startswith(("INSERT", "UPDATE", "DELETE")) and cur.rowcount > 0:
            self.total_changes += cur.rowcount


#: The store's connection, whichever the database.
Connection = sqlite3.Connection | PgConnection


def connect(target: str) -> Connection:
    """A connection to `target`: a `postgresql://` URL, else an SQLite file (WAL)."""
    if is_postgres(target):
        return PgConnection(target)
    conn = sqlite3.connect(target, timeout=10.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def dialect_of(conn: Connection) -> Dialect:
    return Dialect.POSTGRESQL if isinstance(conn, PgConnection) else Dialect.SQLITE


def begin_write(conn: Connection) -> None:
    """Open a transaction holding the database's one write lock."""
    if isinstance(conn, PgConnection):
        conn.execute("BEGIN")
        conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
    else:
        conn.execute("BEGIN IMMEDIATE")


def run_schema(conn: Connection, script: str) -> None:
    """Run schema statements in the caller's transaction (SQLite's `executescript`
    would commit it)."""
    for statement in split_statements(script):
        if isinstance(conn, PgConnection):
            for translated in translate_ddl(statement):
                conn.execute(translated)
        else:
            conn.execute(statement)


def table_columns(conn: Connection, table: str) -> set[str]:
    """The columns `table` has (none: no such table)."""
    if isinstance(conn, PgConnection):
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        ).fetchall()
        return {r[0] for r in rows}
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}  # (cid, name, ...)


def json_int_equals(conn: Connection, column: str, key: str) -> str:
    """SQL true when the JSON object in `column` has the integer `?` at `key`."""
    if isinstance(conn, PgConnection):
        return f"({column}::jsonb -> '{key}') = to_jsonb(?::bigint)"
    return f"json_extract({column}, '$.{key}') = ?"


def is_cursor(value: object) -> bool:
    return isinstance(value, _CURSORS)


def split_statements(script: str) -> list[str]:
    """The statements of an SQL script (triggers' bodies kept whole)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return [s.rstrip(";").strip() for s in statements if s.strip().rstrip(";").strip()]


# -- translation to PostgreSQL -------------------------------------------------------

_LITERAL = re.compile(r"('(?:[^']|'')*')")


def translate(sql: str, with_params: bool) -> str:
    """SQLite's `?` placeholders as psycopg's `%s` (and `%` doubled: psycopg reads it)."""
    if not with_params:
        return sql
    parts = _LITERAL.split(sql)
    for i in range(0, len(parts), 2):  # outside quoted literals
        parts[i] = parts[i].replace("%", "%%").replace("?", "%s")
    for i in range(1, len(parts), 2):
        parts[i] = parts[i].replace("%", "%%")
    return "".join(parts)


_REFUSE_FUNCTION = """CREATE OR REPLACE FUNCTION dfr_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = TG_ARGV[0], ERRCODE = 'integrity_constraint_violation';
END $$"""

_TRIGGER = re.compile(
    r"CREATE TRIGGER IF NOT EXISTS (?P<name>\w+)\s+(?P<timing>BEFORE\s+(?:UPDATE|DELETE)"
    r"(?:\s+OF\s+[\w,\s]+?)?)\s+ON\s+(?P<table>\w+)(?:\s+WHEN\s+(?P<when>.+?))?"
    r"\s+BEGIN SELECT RAISE\(ABORT, '(?P<message>[^']*)'\); END$",
    re.S,
)
_COMMENT = re.compile(r"--[^\n]*")
_CREATE_TABLE = re.compile(r"CREATE TABLE(?: IF NOT EXISTS)? (\w+)", re.I)


def translate_ddl(statement: str) -> list[str]:
    """One SQLite schema statement as PostgreSQL's (a trigger: its function too)."""
    statement = _COMMENT.sub("", statement).strip()
    trigger = _TRIGGER.match(statement)
    if trigger:
        when = f" WHEN ({trigger['when'].strip()})" if trigger["when"] else ""
        timing = " ".join(trigger["timing"].split())
        return [
            _REFUSE_FUNCTION,
            f"CREATE OR REPLACE TRIGGER {trigger['name']} {timing} ON {trigger['table']}"
            f" FOR EACH ROW{when} EXECUTE FUNCTION dfr_refuse('{trigger['message']}')",
        ]
    if statement.upper().startswith("CREATE TRIGGER"):
        raise ValueError(f"no PostgreSQL form for this trigger: {statement[:80]}")
    translated = _types(statement)
    if _CREATE_TABLE.match(statement) and "PRIMARY KEY" not in statement.upper():
        body_end = translated.rstrip().rfind(")")
        translated = (
            translated[:body_end].rstrip()
            + ",\n    rowid BIGINT GENERATED ALWAYS AS IDENTITY\n"
            + translated[body_end:]
        )
    return [translated]


def _types(statement: str) -> str:
    statement = re.sub(
        r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b",
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        statement,
    )
    statement = re.sub(r"\bINTEGER\b", "BIGINT", statement)
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)
