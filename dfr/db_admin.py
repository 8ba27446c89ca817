"""What an operator does to the store's database before an upgrade: bring its schema up
to this release's (`dfr db migrate`), and take a consistent copy (`dfr db backup`), both
safe while a server runs on it. An SQLite file is copied with SQLite's online backup; a
PostgreSQL database is dumped with `pg_dump` (Debian's postgresql-client), in its custom
format for `pg_restore`."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from dfr.db_connection import connect, describe, is_postgres
from dfr.store_schema import migrate, schema_version


class AdminError(Exception):
    """The database cannot be found, read or copied; the message says why."""


def _existing(target: str) -> str:
    if not is_postgres(target) and not Path(target).is_file():
        raise AdminError(f"no database at {target}")
    return target


def database_version(target: str) -> int:
    """The schema version of the database at `target`."""
    conn = connect(_existing(target))
    try:
        return schema_version(conn)
    finally:
        conn.close()


def migrate_database(target: str) -> tuple[int, int]:
    """Apply the migrations the database lacks; (version before, version now). Raises
    AdminError for a database newer than this dfr."""
    conn = connect(_existing(target))
    try:
        return migrate(conn, datetime.now(UTC).isoformat(timespec="milliseconds"))
    except RuntimeError as exc:  # NewerSchema
        raise AdminError(f"{describe(target)}: {exc}") from exc
    finally:
        conn.close()


def backup_database(target: str, out: Path) -> None:
    """A consistent copy of the database at `target` in `out` (not overwritten)."""
    _existing(target)
    if out.exists():
        raise AdminError(f"{out} exists: give a new file")
    if is_postgres(target):
        _pg_dump(target, out)
        return
    source = sqlite3.connect(f"{Path(target).resolve().as_uri()}?mode=ro", uri=True)
    copy = sqlite3.connect(out)
    try:
        with copy:
            source.backup(copy)
    finally:
        copy.close()
        source.close()


def _pg_dump(url: str, out: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise AdminError(
            "pg_dump is missing: install Debian's postgresql-client (apt-get install"
            " postgresql-client) to back up a PostgreSQL database"
        )
    done = subprocess.run(
        [pg_dump, "--format=custom", "--file", str(out), "--dbname", url],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        out.unlink(missing_ok=True)
        raise AdminError(f"pg_dump failed on {describe(url)}: {done.stderr.strip()}")
