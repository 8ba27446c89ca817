"""`dfr bench store` runs on both stores and prints its figures (the figures themselves
go in the README, not into asserts)."""

from __future__ import annotations

import asyncio

from dfr.bench_store import print_result, run


async def test_the_store_benchmark_runs_on_sqlite_and_postgresql(postgres_url, capsys) -> None:
    figures = await asyncio.to_thread(run, postgres_url, 8, 2)  # it runs its own loops
    assert [f.cycles for f in figures] == [8, 8]
    assert all(f.median_ms > 0 and f.shared_cycles_s > 0 for f in figures)
    print_result(figures)
    out = capsys.readouterr().out
    assert "SQLite" in out
    assert "PostgreSQL" in out
