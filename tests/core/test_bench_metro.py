"""The metro benchmark: its generated deployment (three agencies side by side, stations
split between them, mutual aid), and a small run of the benchmark itself on PostgreSQL
on two servers, the first killed after the replay (the figures go in the README, not into
asserts)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dfr.bench_metro import console_users, run
from dfr.deployment import load_deployment
from dfr.synthetic import METRO_AGENCIES, write_metro_deployment


def test_the_metro_deployment_has_three_agencies_with_their_stations(tmp_path: Path) -> None:
    addresses = [f"udpin://127.0.0.1:{20000 + i}" for i in range(30)]
    deployment = load_deployment(write_metro_deployment(tmp_path, addresses))
    assert [s.drone.mavlink for s in deployment.stations] == addresses
    book = deployment.agencies
    assert [a.id for a in book.agencies] == list(METRO_AGENCIES)
    for agency in book.agencies:
        assert len(agency.stations) == 10
        for station in deployment.stations:
            if station.id in agency.stations:
                assert book.agency_at(station.position) == agency.id
    assert (book.rule("city", "county"), book.rule("city", "tribal")) == (
        "always",
        "pilot_confirm",
    )
    assert console_users(METRO_AGENCIES, 5) == [
        "fusion",
        "city-dispatcher",
        "county-dispatcher",
        "tribal-dispatcher",
        "fusion",
    ]


async def test_a_small_metro_run_on_two_servers_dispatches_fans_out_and_fails_over(
    postgres_url,
) -> None:
    result = await asyncio.to_thread(
        run,
        postgres_url,
        servers=2,
        stations=3,
        replay_wall_s=20.0,
        speed=10.0,
        calls_per_hour=400.0,
        consoles=4,
    )
    assert result.consoles_connected == 4
    assert result.calls > 0
    assert sum(result.outcomes.values()) == result.calls
    assert set(result.outcomes) <= {"flying", "queued"}, result.outcomes
    assert sum(result.sortie_states.values()) >= 1  # a re-tasked sortie flies another call
    assert "fault" not in result.sortie_states, result.sortie_states
    assert result.dispatch_p50_ms is not None
    kinds = result.dispatch_by_kind
    assert set(kinds) <= {"launch", "retask", "queued"}, kinds
    assert sum(k["calls"] for k in kinds.values()) == result.calls
    assert result.telemetry_events > 0
    assert len(result.cpu_pct) == 2
    assert result.failover_s is not None
    assert result.calls_lost == 0
