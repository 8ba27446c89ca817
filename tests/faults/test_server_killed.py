"""kill -9 of the server while a drone flies, with the drones flying on in a process of
their own (the built-in simulator, or PX4 SITL when DFR_PX4_DIR names a build): the
restarted server takes the flight back, a pilot's command is accepted, the video the
crash cut short is saved, the drone is freed once it is down, and the call that waited
is served (`dfr.restart_drill`; `dfr bench abuse` prints the same drill's timings)."""

from __future__ import annotations

import pytest

from dfr.restart_drill import run_drill
from tests import simulator

PX4 = simulator.PX4


@pytest.mark.parametrize("vehicle", ["sim", PX4])
def test_a_server_killed_mid_sortie_takes_the_flight_back_after_its_restart(vehicle: str) -> None:
    if vehicle == "px4":
        result = run_drill(speed_factor=simulator.PX4_SPEED_FACTOR, px4=True)
    else:
        result = run_drill(speed_factor=simulator.SERVER_SPEED_FACTOR)
    assert result.state_at_kill == "en_route"
    assert result.survivors_of_kill == 0, "a process of the killed server kept running"
    assert result.adopted, "the restarted server did not re-adopt the airborne sortie"
    assert result.interrupted_recording_saved, "the video the crash cut short was not saved"
    assert result.final_state == "docked"
    assert result.queued_call_served
