"""`dfr bench store`: what one dispatch costs the store on SQLite and on PostgreSQL.

A dispatch cycle is what the server writes for one call flown: the call stored, a drone
reserved for it and released, each one writing transaction with its audit entries, as
the server runs them (`Store` methods: event loop, store thread, transaction). Timed
one by one on one store (the median and 95th percentile cycle), then with `stores`
stores on the same database at once, each on its own drone, as several servers share
one: the cycles per second they reach together, every write holding the database's
one write lock. SQLite is a new file in a temporary directory (WAL, synchronous=FULL,
as the server sets it); PostgreSQL is the database `--postgres` names, whose rows stay.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dfr.db_connection import describe, is_postgres
from dfr.store import NewCall, Store


@dataclass(frozen=True, slots=True)
class StoreFigures:
    database: str
    cycles: int
    median_ms: float
    p95_ms: float
    one_store_cycles_s: float
    stores: int
    shared_cycles_s: float


async def _cycle(store: Store, drone_id: str) -> None:
    call = await store.add_call(NewCall(38.2544, -104.6091, 2, "bench", "cycle"), "bench")
    sortie = await store.reserve(drone_id, "hq", call.id, "bench")
    assert sortie is not None, f"{drone_id} was not free"
    await store.release(sortie.id, "docked", "bench", "bench cycle")


async def _measure(target: str, cycles: int, stores: int) -> StoreFigures:
    async with Store.open(target) as store:
        drones = [f"bench-{i}" for i in range(stores)]
        await store.register_drones((d, "hq") for d in drones)
        for _ in range(min(10, cycles)):  # warm up: connection, caches
            await _cycle(store, drones[0])
        times = []
        for _ in range(cycles):
            start = time.perf_counter()
            await _cycle(store, drones[0])
            times.append(time.perf_counter() - start)
    opened = [Store(target) for _ in range(stores)]
    try:
        for s in opened:
            await s.start()

        async def run(s: Store, drone_id: str) -> None:
            for _ in range(cycles // stores):
                await _cycle(s, drone_id)

        start = time.perf_counter()
        await asyncio.gather(*(run(s, d) for s, d in zip(opened, drones, strict=True)))
        shared_s = time.perf_counter() - start
    finally:
        for s in opened:
            await s.close()
    times.sort()
    return StoreFigures(
        describe(target),
        cycles,
        statistics.median(times) * 1000,
        times[int(0.95 * (len(times) - 1))] * 1000,
        cycles / sum(times),
        stores,
        (cycles // stores) * stores / shared_s,
    )


def run(postgres: str | None, cycles: int = 300, stores: int = 4) -> list[StoreFigures]:
    """The figures on a new SQLite file, and on `postgres` (a URL) when given."""
    if postgres is not None and not is_postgres(postgres):
        raise ValueError(f"not a postgresql:// URL: {postgres}")
    figures = []
    with tempfile.TemporaryDirectory(prefix="dfr-bench-store-") as tmp:
        figures.append(asyncio.run(_measure(str(Path(tmp) / "dfr.sqlite"), cycles, stores)))
    if postgres is not None:
        figures.append(asyncio.run(_measure(postgres, cycles, stores)))
    return figures


def print_result(figures: list[StoreFigures]) -> None:
    print("dispatch cycle (call stored, drone reserved, released: 3 transactions, audited)")
    for f in figures:
        kind = "PostgreSQL" if is_postgres(f.database) else "SQLite"
        print(
            f"  {kind:<10} one store: median {f.median_ms:.1f} ms, p95 {f.p95_ms:.1f} ms,"
            f" {f.one_store_cycles_s:.0f} cycles/s; {f.stores} stores at once:"
            f" {f.shared_cycles_s:.0f} cycles/s ({f.cycles} cycles each way)"
        )
