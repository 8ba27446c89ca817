"""Two servers on one PostgreSQL database, and kill -9 of the one holding the drones
while a drone flies a call: the other takes the drones' link leases, re-adopts the
sortie, accepts the pilot's hold and return, the drone docks, and no call is lost
(`dfr.failover_drill`; `dfr bench failover` prints the same drill's timings). And the
reservation race across two server processes: one drone, two calls, one sortie."""

from __future__ import annotations

from dfr.failover_drill import run_failover, run_race
from tests import simulator


def test_the_other_server_takes_the_flight_over_when_the_drones_server_is_killed(
    postgres_url: str,
) -> None:
    result = run_failover(postgres_url, speed_factor=simulator.SERVER_SPEED_FACTOR)
    assert result.refused_on_standby.startswith("409"), result.refused_on_standby
    assert "server-a" in result.refused_on_standby
    assert result.state_at_kill == "en_route"
    assert result.survivors_of_kill == 0, "a process of the killed server kept running"
    assert result.adopted, "the other server did not re-adopt the airborne sortie"
    assert result.final_state == "docked"
    assert result.calls_before_kill == 2
    assert result.calls_lost == 0


def test_one_drone_dispatched_through_two_server_processes_at_once_goes_to_one_call(
    postgres_url: str,
) -> None:
    result = run_race(postgres_url, speed_factor=simulator.SERVER_SPEED_FACTOR)
    assert sorted(result.statuses) == [200, 409], result
    assert result.sorties_for_the_drone == 1
    assert result.winner_launched != "none"
