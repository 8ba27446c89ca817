"""The audit log's hash chain and signed checkpoints: a clean log verifies; a log changed
in the SQLite file itself (triggers dropped, with the server stopped) does not, and
`dfr audit verify` names the first entry that was edited, deleted, inserted, reordered
or cut off, and a forged checkpoint."""

from __future__ import annotations

import doctest
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfr import audit_chain
from dfr.audit_chain import GENESIS_HASH, canonical_entry, entry_hash
from dfr.audit_report import Report
from dfr.audit_signing import CheckpointPolicy, SigningKey, read_checkpoints
from dfr.audit_verify import verify
from dfr.store import Store

DFR = shutil.which("dfr", path=str(Path(sys.executable).parent)) or "dfr"
ENTRIES, EVERY = 12, 5  # checkpoints: interval at 5 and 10, stop at 12
ROW = "id, at, actor, action, subject, details, outcome, reason, prev_hash, hash"


def policy(directory: Path, every: int = EVERY) -> CheckpointPolicy:
    key = SigningKey.load_or_create(directory / "audit-signing.key")
    return CheckpointPolicy(key, every, directory / "audit-checkpoints.jsonl")


@pytest.fixture
async def log(tmp_path: Path) -> tuple[Path, CheckpointPolicy]:
    """A log of ENTRIES entries written by the store, which is closed again."""
    path, signing = tmp_path / "dfr.sqlite", policy(tmp_path)
    async with Store.open(path, signing) as store:
        for i in range(1, ENTRIES + 1):
            await store.audit(f"user{i}", "login", "", {"address": f"10.0.0.{i}"})
    return path, signing


def check(path: Path, signing: CheckpointPolicy, with_file: bool = True) -> Report:
    return verify(path, signing.file if with_file else None, [signing.key.public])


@contextmanager
def tampering(path: Path) -> Iterator[sqlite3.Connection]:
    """The database file opened as someone with the file would: triggers dropped."""
    conn = sqlite3.connect(path, isolation_level=None)
    for name in (
        "audit_no_update",
        "audit_no_delete",
        "audit_checkpoints_no_update",
        "audit_checkpoints_no_delete",
    ):
        conn.execute(f"DROP TRIGGER {name}")
    try:
        yield conn
    finally:
        conn.close()


def forge(conn: sqlite3.Connection, entry_id: int, actor: str, prev_hash: str) -> None:
    """Insert an entry with a hash computed for it, as someone who read the docs would."""
    fields = (entry_id, "2025-01-01T00:00:00.000+00:00", actor, "login", "", "{}", "accepted")
    fields += ("", prev_hash)
    conn.execute(
        f"INSERT INTO audit ({ROW}) VALUES (?,?,?,?,?,?,?,?,?,?)", (*fields, entry_hash(*fields))
    )


def rechain(conn: sqlite3.Connection, from_id: int) -> None:
    """Recompute every hash from `from_id` on: the chain alone then holds."""
    prev = conn.execute("SELECT hash FROM audit WHERE id = ?", (from_id - 1,)).fetchone()[0]
    for row in conn.execute(f"SELECT {ROW} FROM audit WHERE id >= ? ORDER BY id", (from_id,)):
        digest = entry_hash(*row[:8], prev)
        conn.execute(
            "UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, row[0])
        )
        prev = digest


def hash_of(conn: sqlite3.Connection, entry_id: int) -> str:
    return conn.execute("SELECT hash FROM audit WHERE id = ?", (entry_id,)).fetchone()[0]


def problem(report: Report) -> tuple[str, int]:
    """The kind and entry of the first problem (problems are in entry order)."""
    first = report.as_json()["problems"][0]
    return first["kind"], first["entry_id"]


# -- the chain and the checkpoints as written ------------------------------------------


async def test_a_clean_log_verifies_and_its_head_is_signed(log) -> None:
    path, signing = log
    report = check(path, signing)
    assert report.intact, report.text()
    assert (report.entries, report.head_id, report.first_bad_entry) == (ENTRIES, ENTRIES, None)
    assert report.head_signed
    async with Store.open(path) as store:
        entries = await store.audit_log()
        checkpoints = [cp for _, cp in await store.audit_checkpoints()]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
    assert [(c.kind, c.entry_id) for c in checkpoints] == [
        ("interval", 5),
        ("interval", 10),
        ("stop", 12),
    ]
    assert [c.head_hash for c in checkpoints] == [entries[i - 1].hash for i in (5, 10, 12)]
    in_file, wrong = read_checkpoints(signing.file)
    assert (in_file, wrong) == (checkpoints, [])
    assert all(signing.key.public.signed(c) for c in checkpoints)
    # A restart signs the head again when it starts and stops: still intact.
    async with Store.open(path, signing) as store:
        await store.audit("disp", "logout")
    again = check(path, signing)
    assert again.intact, again.text()
    assert [(c.kind, c.entry_id) for c in read_checkpoints(signing.file)[0][3:]] == [
        ("start", 12),
        ("stop", 13),
    ]


async def test_a_checkpoint_the_file_cannot_take_fails_no_entry_and_is_copied_later(
    store_url, tmp_path, caplog
) -> None:
    path, signing = store_url, policy(tmp_path, every=2)
    async with Store.open(path, signing) as store:
        signing.file.mkdir()  # the checkpoints file cannot be appended to for now
        for i in range(4):
            await store.audit("disp", "login", details={"i": i})
        assert [c.entry_id for _, c in await store.audit_checkpoints()] == [2, 4]
        signing.file.rmdir()
        for i in range(2):
            await store.audit("disp", "login", details={"i": i})
    assert "could not write an audit checkpoint" in caplog.text
    in_file, _ = read_checkpoints(signing.file)
    assert [(c.kind, c.entry_id) for c in in_file] == [
        ("interval", 2),
        ("interval", 4),
        ("interval", 6),
        ("stop", 6),
    ]
    assert check(path, signing).intact


def test_the_hash_is_sha256_of_rfc8785_json_as_documented() -> None:
    assert doctest.testmod(audit_chain).failed == 0
    text = canonical_entry(7, "t", "disp", "login", "call:1", '{"a": 1}', "accepted", "", "0" * 64)
    assert entry_hash(7, "t", "disp", "login", "call:1", '{"a": 1}', "accepted", "", "0" * 64) == (
        hashlib.sha256(text.encode()).hexdigest()
    )


@given(st.integers(1, 2**63 - 1), st.lists(st.text(), min_size=8, max_size=8))
def test_the_canonical_form_is_json_with_sorted_keys_and_no_whitespace(
    entry_id: int, texts: list[str]
) -> None:
    at, actor, action, subject, details, outcome, reason, prev = texts
    entry = {
        "id": entry_id,
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
        "outcome": outcome,
        "reason": reason,
        "prev_hash": prev,
    }
    expected = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_entry(
        entry_id, at, actor, action, subject, details, outcome, reason, prev
    ) == (expected)


def test_the_signing_key_is_made_once_readable_by_its_owner_only(tmp_path) -> None:
    path = tmp_path / "state" / "audit-signing.key"
    key = SigningKey.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert SigningKey.load_or_create(path).public.key_id == key.public.key_id
    path.chmod(0o644)  # a copy put back with looser rights
    assert SigningKey.load_or_create(path).public.key_id == key.public.key_id
    assert path.stat().st_mode & 0o777 == 0o600
    public = path.with_suffix(".pub").read_text()
    assert public == key.public.pem
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in public


# -- changes made to the file ----------------------------------------------------------


async def test_an_edited_entry_is_named(log) -> None:
    path, signing = log
    with tampering(path) as conn:
        conn.execute("UPDATE audit SET actor = 'someone else' WHERE id = 7")
    report = check(path, signing)
    assert not report.intact
    assert problem(report) == ("edited", 7)
    assert report.first_bad_entry == 7
    assert "entry 7 was edited" in report.text()


async def test_an_edited_and_rechained_log_fails_against_its_checkpoints(log) -> None:
    path, signing = log
    with tampering(path) as conn:
        conn.execute("UPDATE audit SET actor = 'someone else' WHERE id = 7")
        rechain(conn, 7)
    report = check(path, signing)
    # The chain holds now; the checkpoint of entry 10 does not: the change is in 6..10.
    assert problem(report) == ("rewritten", 6)
    assert "changed from entry 6 to entry 10" in report.text()


async def test_a_deleted_entry_is_named(log) -> None:
    path, signing = log
    with tampering(path) as conn:
        conn.execute("DELETE FROM audit WHERE id = 7")
    report = check(path, signing)
    assert problem(report) == ("deleted", 7)
    assert report.first_bad_entry == 7


async def test_a_deleted_entry_is_named_when_the_rest_were_renumbered(log) -> None:
    path, signing = log
    with tampering(path) as conn:
        conn.execute("DELETE FROM audit WHERE id = 7")
        conn.execute("UPDATE audit SET id = -(id - 1) WHERE id > 7")
        conn.execute("UPDATE audit SET id = -id WHERE id < 0")
    report = check(path, signing)
    assert problem(report) == ("deleted", 7)
    assert "entry 7 was deleted and the entries after renumbered" in report.text()


async def test_an_inserted_entry_is_named(log) -> None:
    path, signing = log
    with tampering(path) as conn:  # make room at 7, then forge an entry there
        conn.execute("UPDATE audit SET id = -(id + 1) WHERE id >= 7")
        conn.execute("UPDATE audit SET id = -id WHERE id < 0")
        forge(conn, 7, "intruder", hash_of(conn, 6))
    report = check(path, signing)
    assert problem(report) == ("inserted", 7)
    assert report.first_bad_entry == 7


async def test_an_entry_without_a_hash_is_named(log) -> None:
    path, signing = log
    with tampering(path) as conn:
        conn.execute(
            "INSERT INTO audit (id, at, actor, action) VALUES (13, '2025-01-01', 'x', 'login')"
        )
    report = check(path, signing)
    assert problem(report) == ("inserted", 13)
    assert "entry 13 has no hash" in report.text()


async def test_an_entry_added_after_the_server_stopped_is_named(log) -> None:
    path, signing = log
    with tampering(path) as conn:  # a chain that holds, but nothing signed it
        forge(conn, 13, "intruder", hash_of(conn, 12))
    report = check(path, signing)
    assert problem(report) == ("inserted", 13)
    assert "written after the server stopped" in report.text()


async def test_reordered_entries_are_named(log) -> None:
    path, signing = log
    with tampering(path) as conn:  # swap entries 7 and 8
        conn.execute("UPDATE audit SET id = -8 WHERE id = 7")
        conn.execute("UPDATE audit SET id = 7 WHERE id = 8")
        conn.execute("UPDATE audit SET id = 8 WHERE id = -8")
    report = check(path, signing)
    assert problem(report) == ("reordered", 7)
    assert report.first_bad_entry == 7


async def test_a_log_cut_short_after_a_checkpoint_is_caught_by_it(log) -> None:
    path, signing = log
    with tampering(path) as conn:  # entries 11 and 12 go, and the stop checkpoint with them
        conn.execute("DELETE FROM audit WHERE id > 10")
        conn.execute("UPDATE sqlite_sequence SET seq = 10 WHERE name = 'audit'")
        conn.execute("DELETE FROM audit_checkpoints WHERE entry_id > 10")
    report = check(path, signing)  # the checkpoints file kept the stop checkpoint
    assert not report.intact
    assert report.first_bad_entry == 11
    kinds = {(p.kind, p.entry_id) for p in report.problems}
    assert kinds == {("truncated", 11), ("checkpoint_missing", 12)}
    assert "the log ends at entry 10" in report.text()
    # Without a copy of the checkpoints kept elsewhere, the database alone cannot tell.
    assert check(path, signing, with_file=False).intact


async def test_a_log_cut_short_fails_against_the_databases_own_checkpoint(log) -> None:
    path, signing = log
    with tampering(path) as conn:
        conn.execute("DELETE FROM audit WHERE id > 10")
    report = check(path, signing, with_file=False)
    assert problem(report) == ("truncated", 11)


async def test_a_forged_checkpoint_is_named(log, tmp_path) -> None:
    path, signing = log
    other = SigningKey.load_or_create(tmp_path / "other" / "key")
    with tampering(path) as conn:  # a stop checkpoint claiming the log ends at entry 10
        forged = [
            other.sign(10, hash_of(conn, 10), "2099-01-01T00:00:00.000+00:00", "stop"),
            signing.key.sign(10, hash_of(conn, 10), "2099-01-01T00:00:00.000+00:00", "stop"),
        ]
        forged[1] = forged[1].__class__(**{**forged[1].as_json(), "entry_id": 11})
        for cp in forged:
            conn.execute(
                "INSERT INTO audit_checkpoints (entry_id, head_hash, at, kind, key_id, signature)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (cp.entry_id, cp.head_hash, cp.at, cp.kind, cp.key_id, cp.signature),
            )
    report = check(path, signing)
    assert [(p.kind, p.entry_id) for p in report.problems] == [
        ("forged_checkpoint", 10),
        ("forged_checkpoint", 11),
    ]
    assert report.first_bad_entry == 10
    assert "names another key" in report.problems[0].message


async def test_after_a_key_was_replaced_the_log_checks_with_both_public_keys(log) -> None:
    path, signing = log
    old = signing.key.public
    os.remove(path.parent / "audit-signing.key")  # lost: the next start makes a new one
    newer = policy(path.parent)
    async with Store.open(path, newer) as store:
        await store.audit("disp", "login")
    assert newer.key.public.key_id != old.key_id
    both = verify(path, signing.file, [old, newer.key.public])
    assert both.intact, both.text()
    only_old = verify(path, signing.file, [old])
    assert problem(only_old) == ("forged_checkpoint", 12)  # the new key's start checkpoint
    assert "names another key" in only_old.text()


# -- dfr audit verify, the command ------------------------------------------------------


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DFR, "audit", "verify", *map(str, args)], capture_output=True, text=True, timeout=120
    )


async def test_the_command_reads_only_and_exits_1_naming_the_entry(log, tmp_path) -> None:
    path, signing = log
    with tampering(path) as conn:
        conn.execute("UPDATE audit SET details = '{}' WHERE id = 4")
    copy = tmp_path / "evidence"
    copy.mkdir()
    shutil.copy(path, copy / "dfr.sqlite")
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    args = ("--database", copy / "dfr.sqlite", "--checkpoints", signing.file)
    out = run(*args, "--public-key", path.parent / "audit-signing.pub")
    assert out.returncode == 1, out.stderr
    assert "PROBLEM at entry 4 (edited)" in out.stdout
    assert "NOT INTACT: the first bad entry is entry 4" in out.stdout
    as_json = json.loads(
        run(*args, "--public-key", path.parent / "audit-signing.pub", "--json").stdout
    )
    assert (as_json["intact"], as_json["first_bad_entry"]) == (False, 4)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before  # nothing written
    missing = run("--database", tmp_path / "nothing.sqlite")
    assert missing.returncode == 2
    assert "no such database file" in missing.stderr


async def test_the_command_checks_a_state_dir(log) -> None:
    path, _ = log
    out = run("--state-dir", path.parent)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "result: INTACT" in out.stdout
    assert "give --public-key a copy kept elsewhere" in out.stdout
    os.remove(path.parent / "audit-signing.pub")
    unsigned = run("--state-dir", path.parent)
    assert unsigned.returncode == 0
    assert "signatures NOT checked" in unsigned.stdout


def test_the_benchmark_runs_and_its_own_log_verifies() -> None:
    out = subprocess.run(
        [DFR, "bench", "audit", "--appends", "30", "--rounds", "3", "--entries", "500", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["verify_entries"], result["verify_checkpoints"]) == (500, 5)  # 100..500
    assert {"unchained_per_s", "chained_per_s", "chain_cost_pct", "control_pct"} <= set(
        result["server"]
    )
