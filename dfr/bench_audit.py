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
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from dfr.audit_chain import GENESIS_HASH, entry_hash
from dfr.audit_signing import INTERVAL, STOP, CheckpointPolicy, SigningKey, append_checkpoints
from dfr.audit_verify import verify
from dfr.store import Store, _audit, _transaction, utc_now  # the store's own append, as is

#: The append dfr made before the chain: the baseline.
UNCHAINED_INSERT = (
    "INSERT INTO audit (at, actor, action, subject, details, outcome, reason)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
ACTIONS = ("login", "call.create", "sortie.dispatch", "sortie.launch", "command.hold")
CPU_BATCH = 1000


#: sample_entry()'s details as the store writes them (json.dumps, sorted keys), for speed.
DETAILS_TEXT = '{"address": "10.0.0.7", "call_id": %d, "drone_id": "dfr-1", "station_id": "hq"}'


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
            utc_now(),
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


def _seconds(
    c: sqlite3.Connection,
    append: Callable,
    n: int,
    per_transaction: int,
    clock: Callable[[], float] = time.perf_counter,
    start: int = 0,
) -> float:
    """Time to append entries start..n-1, `per_transaction` to a transaction."""
    t0 = clock()
    for first in range(start, n, per_transaction):
        with _transaction(c):
            for i in range(first, min(n, first + per_transaction)):
                append(c, i)
    return clock() - t0


def append_costs(directory: Path, appends: int, rounds: int) -> dict[str, float]:
    """Seconds per entry without and with the chain, one entry per transaction, timed one
    by one in `rounds` pairs of rounds back to back on one file (which goes first
    alternates). The median append is what the chain costs: the mean also holds SQLite's
    WAL checkpoints and the pauses other work on the machine causes, which fall on
    either side by chance. Then CPU seconds per entry, 1,000 entries per transaction."""
    path = directory / "append.sqlite"
    asyncio.run(_create(path))
    conn = _connect(path)
    per_round = max(1, appends // rounds)
    appenders = {"unchained": _unchained, "chained": _chained}
    each: dict[str, list[float]] = {"unchained": [], "chained": []}
    cpu: dict[str, list[float]] = {"unchained": [], "chained": []}
    try:
        for r in range(rounds):
            for name in ("unchained", "chained") if r % 2 == 0 else ("chained", "unchained"):
                for i in range(per_round):
                    each[name].append(_seconds(conn, appenders[name], i + 1, 1, start=i))
        for _ in range(5):
            for name, append in appenders.items():
                cpu_s = _seconds(conn, append, CPU_BATCH, CPU_BATCH, time.process_time)
                cpu[name].append(cpu_s / CPU_BATCH)
    finally:
        conn.close()
    return {
        "unchained_s": statistics.median(each["unchained"]),
        "chained_s": statistics.median(each["chained"]),
        "unchained_mean_s": statistics.mean(each["unchained"]),
        "chained_mean_s": statistics.mean(each["chained"]),
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
                actor, action, subject, _, outcome, reason = sample_entry(i)
                details = DETAILS_TEXT % i
                fields = (i, _at(i), actor, action, subject, details, outcome, reason, prev)
                prev = entry_hash(*fields)
                rows.append((*fields, prev))
                if i % every == 0 or i == entries:
                    kind = STOP if i == entries else INTERVAL
                    signed.append(key.sign(i, prev, fields[1], kind))
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


def run(appends: int = 3000, rounds: int = 30, entries: int = 1_000_000) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="dfr-bench-audit-") as tmp:
        directories = {name: Path(tmp) / name for name in ("append", "store", "verify")}
        for directory in directories.values():
            directory.mkdir()
        costs = append_costs(directories["append"], appends, rounds)
        through_store = asyncio.run(store_rate(directories["store"], appends))
        t0 = time.perf_counter()
        path, checkpoints_file, key = build_log(directories["verify"], entries)
        built_s = time.perf_counter() - t0
        t0, cpu0 = time.perf_counter(), time.process_time()
        report = verify(path, checkpoints_file, key.public)
        verify_s, verify_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    if not report.intact:
        raise RuntimeError(f"the benchmark's own log did not verify:\n{report.text()}")
    unchained, chained = costs["unchained_s"], costs["chained_s"]
    return {
        "appends": appends,
        "unchained_per_s": round(1 / unchained),
        "chained_per_s": round(1 / chained),
        "rounds": rounds,
        "chain_cost_pct": round((chained / unchained - 1) * 100, 1),
        "unchained_mean_per_s": round(1 / costs["unchained_mean_s"]),
        "chained_mean_per_s": round(1 / costs["chained_mean_s"]),
        "store_audit_per_s": round(through_store),
        "cpu_unchained_us": round(costs["unchained_cpu_s"] * 1e6, 2),
        "cpu_chained_us": round(costs["chained_cpu_s"] * 1e6, 2),
        "verify_entries": report.entries,
        "verify_checkpoints": report.checkpoints_valid,
        "verify_s": round(verify_s, 2),
        "verify_cpu_s": round(verify_cpu_s, 2),
        "verify_per_s": round(report.entries / verify_s),
        "build_s": round(built_s, 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],  # others' work on the machine
    }


def print_result(r: dict) -> None:
    print(
        f"audit append, one entry per transaction, WAL, synchronous=FULL ({r['appends']:,}"
        f" entries each, in {r['rounds']} pairs of rounds):"
    )
    print(
        f"  without the chain  {r['unchained_per_s']:>7,} entries/s at the median append"
        f" ({r['unchained_mean_per_s']:,}/s on average)"
    )
    print(
        f"  with the chain     {r['chained_per_s']:>7,} entries/s at the median append"
        f" ({r['chained_mean_per_s']:,}/s on average)"
    )
    print(f"  chain cost {r['chain_cost_pct']:+.1f} % (target: at most 10 %)")
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
        f" checkpoints in {r['verify_s']} s ({r['verify_cpu_s']} s CPU)"
        f" = {r['verify_per_s']:,} entries/s (log built in {r['build_s']} s)"
    )
    print(f"load average at the end: {' '.join(map(str, r['load_average']))}")


async def _create(path: Path) -> None:
    async with Store.open(path):
        pass  # the schema, as the store makes it


def _at(i: int) -> str:
    """The time of the built log's entry `i`: one a millisecond from 2025-01-01."""
    seconds, ms = divmod(i, 1000)
    minutes, s = divmod(seconds, 60)
    hours, m = divmod(minutes, 60)
    days, h = divmod(hours, 24)
    return f"2025-01-{days + 1:02d}T{h:02d}:{m:02d}:{s:02d}.{ms:03d}+00:00"


def _chunks(entries: int, size: int) -> Iterator[range]:
    for start in range(1, entries + 1, size):
        yield range(start, min(entries, start + size - 1) + 1)
