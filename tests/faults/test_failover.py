"""Two servers on one PostgreSQL database, and kill -9 of the one holding the drones
while a drone flies a call: the other takes the drones' link leases, re-adopts the
sortie, accepts the pilot's hold and return, the drone docks, and no call is lost
(`dfr.failover_drill`; `dfr bench failover` prints the same drill's timings)."""

from __future__ import annotations

from dfr.failover_drill import run_failover
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
