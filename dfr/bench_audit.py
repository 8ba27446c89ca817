"""`dfr bench audit`: what the audit chain costs each append, and how fast `dfr audit
verify` checks a large log.

Appends are measured on a real SQLite file set up as the store sets it (WAL,
synchronous=FULL), one entry per transaction as the server writes them: the statement
dfr used before the chain against the store's own chained append (`_audit`), in
alternating rounds so that the disk's drift falls on both alike; then `Store.audit`
end to end (worker thread, chain and checkpoints). The chain's CPU cost alone is
measured with 1,000 entries per transaction. The verify figure is for a log of
`entries` entries with a signed checkpoint every 100, built in a temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dfr.audit_chain import GENESIS_HASH, entry_hash
from dfr.audit_signing import INTERVAL, STOP, CheckpointPolicy, SigningKey, append_checkpoints
from dfr.audit_verify import verify
from dfr.store import Store, _audit, _transaction  # the store's own append, measured as is

#: The append dfr made before the chain: the baseline.
UNCHAINED_INSERT = (
    "INSERT INTO audit (at, actor, action, subject, details, outcome, reason)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
ACTIONS = ("login", "call.create", "sortie.dispatch", "sortie.launch", "command.hold")
CPU_BATCH = 1000
START_AT = datetime(2025, 1, 1, tzinfo=UTC)  # the built log's first entry; one a millisecond


def sample_entry(i: int) -> tuple[str, str, str, dict, str, str]:
    """(actor, action, subject, details, outcome, reason): entries of the usual size."""
    action = ACTIONS[i % len(ACTIONS)]
    details = {"address": "10.0.0.7", "call_id": i, "drone_id": "dfr-1", "station_id": "hq"}
    refused = i % 10 == 0
    reason = "drone dfr-1 has no sortie in flight" if refused else ""
    return "dispatcher", action, f"call:{i}", details, "refused" if refused else "accepted", reason


def _connect(path: Path) -> sqlite3.Connection:
    """A connection set up as the store sets its own."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _unchained(c: sqlite3.Connection, i: int) -> None:
    actor, action, subject, details, outcome, reason = sample_entry(i)
    c.execute(
        UNCHAINED_INSERT,
        (
            time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime()),
            actor,
            action,
            subject,
            json.dumps(details, sort_keys=True),
            outcome,
            reason,
        ),
    )


def _chained(c: sqlite3.Connection, i: int) -> None:
    _audit(c, *sample_entry(i))


def _seconds(c: sqlite3.Connection, append: Callable, n: int, per_transaction: int) -> float:
    t0 = time.perf_counter()
    for start in range(0, n, per_transaction):
        with _transaction(c):
            for i in range(start, min(n, start + per_transaction)):
                append(c, i)
    return time.perf_counter() - t0


def append_costs(directory: Path, appends: int, rounds: int) -> dict[str, float]:
    """Seconds per entry without and with the chain, alternating rounds on one file."""
    path = directory / "append.sqlite"
    asyncio.run(_create(path))
    conn = _connect(path)
    per_round = max(1, appends // rounds)
    times: dict[str, list[float]] = {"unchained": [], "chained": []}
    cpu: dict[str, list[float]] = {"unchained": [], "chained": []}
    try:
        for r in range(rounds):
            order = [("unchained", _unchained), ("chained", _chained)]
            for name, append in order if r % 2 == 0 else order[::-1]:
                times[name].append(_seconds(conn, append, per_round, 1) / per_round)
                cpu[name].append(_seconds(conn, append, CPU_BATCH, CPU_BATCH) / CPU_BATCH)
    finally:
        conn.close()
    return {
        "unchained_s": statistics.mean(times["unchained"]),
        "chained_s": statistics.mean(times["chained"]),
        "unchained_cpu_s": statistics.median(cpu["unchained"]),
        "chained_cpu_s": statistics.median(cpu["chained"]),
    }


async def store_rate(directory: Path, appends: int) -> float:
    """Entries per second through `Store.audit` with the chain and checkpoints."""
    key = SigningKey.load_or_create(directory / "audit-signing.key")
    policy = CheckpointPolicy(key, 100, directory / "audit-checkpoints.jsonl")
    async with Store.open(directory / "store.sqlite", policy) as store:
        t0 = time.perf_counter()
        for i in range(appends):
            await store.audit(*sample_entry(i))
        return appends / (time.perf_counter() - t0)


def build_log(directory: Path, entries: int, every: int = 100) -> tuple[Path, Path, SigningKey]:
    """A chained log of `entries` entries with a signed checkpoint every `every` and one
    at the end, written fast (no per-entry transaction); returns the database, the
    checkpoints file and the key."""
    path, checkpoints_file = directory / "verify.sqlite", directory / "audit-checkpoints.jsonl"
    asyncio.run(_create(path))
    key = SigningKey.load_or_create(directory / "audit-signing.key")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    prev = GENESIS_HASH
    try:
        for chunk in _chunks(entries, 50_000):
            rows, signed = [], []
            for i in chunk:
                actor, action, subject, details, outcome, reason = sample_entry(i)
                at = (START_AT + timedelta(milliseconds=i)).isoformat(timespec="milliseconds")
                fields = (i, at, actor, action, subject, json.dumps(details, sort_keys=True))
                fields += (outcome, reason, prev)
                prev = entry_hash(*fields)
                rows.append((*fields, prev))
                if i % every == 0 or i == entries:
                    kind = STOP if i == entries else INTERVAL
                    signed.append(key.sign(i, prev, at, kind))
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO audit (id, at, actor, action, subject, details, outcome, reason,"
                " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.executemany(
                "INSERT INTO audit_checkpoints (entry_id, head_hash, at, kind, key_id, signature)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(c.entry_id, c.head_hash, c.at, c.kind, c.key_id, c.signature) for c in signed],
            )
            conn.execute("COMMIT")
            append_checkpoints(checkpoints_file, signed)
    finally:
        conn.close()
    return path, checkpoints_file, key


def run(appends: int = 3000, rounds: int = 10, entries: int = 1_000_000) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="dfr-bench-audit-") as tmp:
        directories = {name: Path(tmp) / name for name in ("append", "store", "verify")}
        for directory in directories.values():
            directory.mkdir()
        costs = append_costs(directories["append"], appends, rounds)
        through_store = asyncio.run(store_rate(directories["store"], appends))
        t0 = time.perf_counter()
        path, checkpoints_file, key = build_log(directories["verify"], entries)
        built_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = verify(path, checkpoints_file, key.public)
        verify_s = time.perf_counter() - t0
    if not report.intact:
        raise RuntimeError(f"the benchmark's own log did not verify:\n{report.text()}")
    unchained, chained = costs["unchained_s"], costs["chained_s"]
    return {
        "appends": appends,
        "unchained_per_s": round(1 / unchained),
        "chained_per_s": round(1 / chained),
        "chain_cost_pct": round((chained / unchained - 1) * 100, 1),
        "store_audit_per_s": round(through_store),
        "cpu_unchained_us": round(costs["unchained_cpu_s"] * 1e6, 2),
        "cpu_chained_us": round(costs["chained_cpu_s"] * 1e6, 2),
        "verify_entries": report.entries,
        "verify_checkpoints": report.checkpoints_valid,
        "verify_s": round(verify_s, 2),
        "verify_per_s": round(report.entries / verify_s),
        "build_s": round(built_s, 1),
    }


def print_result(r: dict) -> None:
    print(
        f"audit append, one entry per transaction, WAL, synchronous=FULL ({r['appends']:,}"
        " entries each, alternating rounds):"
    )
    print(f"  without the chain  {r['unchained_per_s']:>7,} entries/s")
    print(
        f"  with the chain     {r['chained_per_s']:>7,} entries/s"
        f"   chain cost {r['chain_cost_pct']:+.1f} % (target: at most 10 %)"
    )
    print(
        f"  Store.audit        {r['store_audit_per_s']:>7,} entries/s"
        "   (end to end: worker thread, chain, a checkpoint every 100)"
    )
    print(
        f"  CPU per entry ({CPU_BATCH:,} per transaction): {r['cpu_unchained_us']} µs without"
        f" the chain, {r['cpu_chained_us']} µs with it"
    )
    print(
        f"dfr audit verify: {r['verify_entries']:,} entries, {r['verify_checkpoints']:,} signed"
        f" checkpoints in {r['verify_s']} s = {r['verify_per_s']:,} entries/s"
        f" (log built in {r['build_s']} s)"
    )


async def _create(path: Path) -> None:
    async with Store.open(path):
        pass  # the schema, as the store makes it


def _chunks(entries: int, size: int) -> Iterator[range]:
    for start in range(1, entries + 1, size):
        yield range(start, min(entries, start + size - 1) + 1)
