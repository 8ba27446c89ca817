"""`dfr bench audit`: what the audit chain costs each append, and how fast `dfr audit
verify` checks a large log.

Appends are made on real SQLite files set up as the store sets them (WAL,
synchronous=FULL), one entry per transaction as the server writes them, timed one
by one, without the chain (the statement dfr used before it) and with it (the
store's own append), in alternating rounds so that the disk's drift and other work
on the machine fall on both alike. The median append is what the chain costs: the
mean also holds SQLite's WAL checkpoints and pauses that fall on either side by
chance. A third arm appends without the chain again: how far two identical arms
differ is the noise the figures carry (other work on a shared machine). Measured
twice: as the server appends (`Store.audit`: event loop, store thread, transaction;
with the chain, a signed checkpoint every 100 entries too), and as bare transactions;
then CPU per entry with 1,000 entries per transaction. The verify figure is for a
log of `entries` entries with a signed checkpoint every 100, built in a temporary
directory.
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
from dfr.db_connection import Connection
from dfr.store import Store, utc_now
from dfr.store_audit_chain import audit_in, transaction  # the store's own append, as is

#: The append dfr made before the chain: the baseline.
UNCHAINED_INSERT = (
    "INSERT INTO audit (at, actor, action, subject, details, outcome, reason)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
ACTIONS = ("login", "call.create", "sortie.dispatch", "sortie.launch", "command.hold")
CPU_BATCH = 1000
ARMS = ("unchained", "chained", "control")  # control: without the chain again


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
    audit_in(c, *sample_entry(i))


def _seconds(
    c: Connection,
    append: Callable,
    n: int,
    per_transaction: int,
    clock: Callable[[], float] = time.perf_counter,
    start: int = 0,
) -> float:
    """Time to append entries start..n-1, `per_transaction` to a transaction."""
    t0 = clock()
    for first in range(start, n, per_transaction):
        with transaction(c):
            for i in range(first, min(n, first + per_transaction)):
                append(c, i)
    return clock() - t0


def transaction_costs(directory: Path, appends: int, rounds: int) -> dict[str, float]:
    """Median and mean seconds per append, bare transactions, without and with the
    chain; then median CPU seconds per entry with 1,000 entries per transaction."""
    path = directory / "append.sqlite"
    asyncio.run(_create(path))
    conn = _connect(path)
    per_round = max(1, appends // rounds)
    appenders = {"unchained": _unchained, "chained": _chained, "control": _unchained}
    each: dict[str, list[float]] = {name: [] for name in ARMS}
    cpu: dict[str, list[float]] = {"unchained": [], "chained": []}
    try:
        for r in range(rounds):
            for name in _order(r):
                for i in range(per_round):
                    each[name].append(_seconds(conn, appenders[name], i + 1, 1, start=i))
        for _ in range(5):
            for name in cpu:
                cpu_s = _seconds(conn, appenders[name], CPU_BATCH, CPU_BATCH, time.process_time)
                cpu[name].append(cpu_s / CPU_BATCH)
    finally:
        conn.close()
    return {
        **_summary(each),
        "unchained_cpu_s": statistics.median(cpu["unchained"]),
        "chained_cpu_s": statistics.median(cpu["chained"]),
    }


async def server_costs(directory: Path, appends: int, rounds: int) -> dict[str, float]:
    """Median and mean seconds per append as the server appends: `Store.audit` with the
    chain and a checkpoint policy, against a store without one appending as dfr did
    before the chain, each on its own file."""
    key = SigningKey.load_or_create(directory / "audit-signing.key")
    policy = CheckpointPolicy(key, 100, directory / "audit-checkpoints.jsonl")
    per_round = max(1, appends // rounds)
    each: dict[str, list[float]] = {name: [] for name in ARMS}
    async with (
        Store.open(directory / "before.sqlite") as before,
        Store.open(directory / "control.sqlite") as control,
        Store.open(directory / "chained.sqlite", policy) as chained,
    ):
        unchained = {"unchained": before, "control": control}

        async def append(name: str, i: int) -> None:
            if name == "chained":
                await chained.audit(*sample_entry(i))
            else:  # the store's own path (its thread, a transaction) with the old statement
                store = unchained[name]
                await store._run_conn(lambda c: _seconds(c, _unchained, i + 1, 1, start=i))

        for r in range(rounds):
            for name in _order(r):
                for i in range(per_round):
                    t0 = time.perf_counter()
                    await append(name, r * per_round + i)
                    each[name].append(time.perf_counter() - t0)
    return _summary(each)


def _order(r: int) -> tuple[str, ...]:
    """The arms' order in round `r`: each goes first, second and last as often."""
    turned = ARMS[r % 3 :] + ARMS[: r % 3]
    return turned if r % 2 == 0 else turned[::-1]


def _summary(each: dict[str, list[float]]) -> dict[str, float]:
    return {
        **{f"{name}_s": statistics.median(times) for name, times in each.items()},
        **{f"{name}_mean_s": statistics.mean(times) for name, times in each.items()},
    }


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
        directories = {name: Path(tmp) / name for name in ("server", "transaction", "verify")}
        for directory in directories.values():
            directory.mkdir()
        server = asyncio.run(server_costs(directories["server"], appends, rounds))
        bare = transaction_costs(directories["transaction"], appends, rounds)
        t0 = time.perf_counter()
        path, checkpoints_file, key = build_log(directories["verify"], entries)
        built_s = time.perf_counter() - t0
        t0, cpu0 = time.perf_counter(), time.process_time()
        report = verify(path, checkpoints_file, [key.public])
        verify_s, verify_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    if not report.intact:
        raise RuntimeError(f"the benchmark's own log did not verify:\n{report.text()}")
    return {
        "appends": appends,
        "rounds": rounds,
        "server": _rates(server),
        "transaction": _rates(bare),
        "cpu_unchained_us": round(bare["unchained_cpu_s"] * 1e6, 2),
        "cpu_chained_us": round(bare["chained_cpu_s"] * 1e6, 2),
        "verify_entries": report.entries,
        "verify_checkpoints": report.checkpoints_valid,
        "verify_s": round(verify_s, 2),
        "verify_cpu_s": round(verify_cpu_s, 2),
        "verify_per_s": round(report.entries / verify_s),
        "build_s": round(built_s, 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],  # others' work on the machine
    }


def _rates(costs: dict[str, float]) -> dict[str, float]:
    unchained, chained = costs["unchained_s"], costs["chained_s"]
    return {
        "unchained_per_s": round(1 / unchained),
        "chained_per_s": round(1 / chained),
        "chain_cost_pct": round((chained / unchained - 1) * 100, 1),
        "control_pct": round((costs["control_s"] / unchained - 1) * 100, 1),
        "unchained_mean_per_s": round(1 / costs["unchained_mean_s"]),
        "chained_mean_per_s": round(1 / costs["chained_mean_s"]),
    }


def print_result(r: dict) -> None:
    print(
        f"audit append, one entry per transaction, WAL, synchronous=FULL: {r['appends']:,}"
        f" appends each, {r['rounds']} pairs of rounds; entries/s at the median append"
        " (on average):"
    )
    for key, what in (
        ("server", "as the server appends (Store.audit: event loop, store thread)"),
        ("transaction", "bare transactions"),
    ):
        x = r[key]
        print(
            f"  {what}: without the chain {x['unchained_per_s']:,}"
            f" ({x['unchained_mean_per_s']:,}), with it {x['chained_per_s']:,}"
            f" ({x['chained_mean_per_s']:,}): the chain costs {x['chain_cost_pct']:+.1f} %"
            f" (the control arm: {x['control_pct']:+.1f} %)"
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
