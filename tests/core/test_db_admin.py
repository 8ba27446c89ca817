"""`dfr db migrate` and `dfr db backup`, what an operator runs before an upgrade: on an
SQLite file the previous release wrote, and on PostgreSQL (a dump that restores)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path

from dfr.cli import main
from dfr.store import NewCall, Store
from dfr.store_schema import LATEST
from tests.postgres import Cluster

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store" / "previous-release.sql"


async def test_migrate_then_back_up_a_previous_release_file_while_it_is_open(
    tmp_path: Path, capsys
) -> None:
    db = tmp_path / "dfr.sqlite"
    with sqlite3.connect(db) as old:
        old.executescript(FIXTURE.read_text())
    old.close()
    assert main(["db", "migrate", "--database", str(db)]) == 0
    assert f"schema version 0 -> {LATEST} (migrated" in capsys.readouterr().out
    assert main(["db", "migrate", "--database", str(db)]) == 0
    assert f"schema version {LATEST} -> {LATEST} (up to date" in capsys.readouterr().out
    async with Store.open(db) as store:  # a server has it open meanwhile
        await store.add_call(NewCall(38.26, -104.6, summary="after"), "disp")
        copy = tmp_path / "backup.sqlite"
        assert main(["db", "backup", "--database", str(db), "--out", str(copy)]) == 0
        assert f"backed up to {copy}" in capsys.readouterr().out
    async with Store.open(copy) as restored:
        assert [c.summary for c in await restored.list_calls()][-1] == "after"
    assert main(["db", "backup", "--database", str(db), "--out", str(copy)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["db", "migrate", "--database", str(tmp_path / "none.sqlite")]) == 2
    assert "no database at" in capsys.readouterr().err


async def test_a_postgresql_database_is_migrated_and_dumped_and_the_dump_restores(
    postgres_cluster: Cluster, postgres_url: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    async with Store.open(postgres_url) as store:
        call = await store.add_call(NewCall(38.26, -104.6, summary="kept"), "disp")
    assert main(["db", "migrate", "--database", postgres_url]) == 0
    assert f"{LATEST} -> {LATEST} (up to date" in capsys.readouterr().out
    dump = tmp_path / "dfr.dump"
    assert main(["db", "backup", "--database", postgres_url, "--out", str(dump)]) == 0
    assert dump.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    restored = postgres_cluster.create_database()
    try:
        restore = [
            str(postgres_cluster.bin_dir / "pg_restore"), "--no-owner",
            "--dbname", postgres_cluster.url(restored), str(dump),
        ]  # fmt: skip
        await asyncio.to_thread(subprocess.run, restore, check=True, capture_output=True)
        async with Store.open(postgres_cluster.url(restored)) as store:
            assert await store.get_call(call.id) == call
            assert store.schema_versions == (LATEST, LATEST)
    finally:
        postgres_cluster.drop_database(restored)
    capsys.readouterr()
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump on it
    assert main(["db", "backup", "--database", postgres_url, "--out", str(tmp_path / "x")]) == 2
    assert "install Debian's postgresql-client" in capsys.readouterr().err


async def test_the_server_refuses_a_newer_database_and_an_unreachable_one(
    tmp_path: Path, capsys
) -> None:
    db = tmp_path / "dfr.sqlite"
    async with Store.open(db):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO schema_version (version, summary, applied_at) VALUES (?, 'later', 't')",
            (LATEST + 1,),
        )
    conn.close()
    serve = ["serve", "--state-dir", str(tmp_path / "state"), "--no-sim"]
    assert main([*serve, "--database", str(db)]) == 2
    assert f"version {LATEST + 1}, newer than this dfr knows ({LATEST})" in capsys.readouterr().err
    assert main(["db", "migrate", "--database", str(db)]) == 2
    assert "newer than this dfr knows" in capsys.readouterr().err
    nobody = "postgresql://dfr:secret@127.0.0.1:1/dfr"
    assert main([*serve, "--database", nobody]) == 2
    err = capsys.readouterr().err
    assert "cannot open the database postgresql://dfr:***@127.0.0.1:1/dfr" in err
    assert "secret" not in err


async def test_audit_verify_and_retention_read_a_postgresql_database(
    postgres_url: str, capsys
) -> None:
    async with Store.open(postgres_url) as store:
        await store.add_call(NewCall(38.26, -104.6, summary="x"), "disp")
    assert main(["audit", "verify", "--database", postgres_url]) == 0
    assert "intact" in capsys.readouterr().out.lower()
    dry_run = ["retention", "run", "--dry-run", "--database", postgres_url, "--json"]
    assert await asyncio.to_thread(main, dry_run) == 0  # the command runs its own loop
    assert json.loads(capsys.readouterr().out)["records"] == []
