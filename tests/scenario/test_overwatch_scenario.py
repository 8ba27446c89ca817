"""The overwatch scenario (`dfr scenario --overwatch-min`): one call kept watched longer
than a drone's battery lasts, on real MAVLink flights of the built-in simulator; the
report shows every drone's shift over the scene and no gap in coverage."""

from __future__ import annotations

import json
import subprocess

import pytest

from dfr.loopback import free_udp_block
from tests import simulator
from tests.deployments import short_battery_pueblo
from tests.scenario.test_scenario import DFR

SCENE = (38.2560, -104.6080)  # 1.1 km from hq, 2 km from bessemer
PX4 = simulator.PX4


@pytest.mark.parametrize("vehicle", ["sim", PX4])
def test_a_call_watched_longer_than_a_battery_has_no_gap(tmp_path, vehicle) -> None:
    # Batteries of 900 s: the first drone stays some 500 s, its relief from the next
    # station some 350 s; twelve minutes need one relief (the simulator's docks do not
    # recharge, so a drone home with half a battery cannot go again).
    deployment = short_battery_pueblo(tmp_path, endurance_s=900)
    (tmp_path / "calls.csv").write_text(f"t_s,lat,lon,priority\n0,{SCENE[0]},{SCENE[1]},1\n")
    args = [DFR, "scenario", "--deployment", str(deployment), "--overwatch-min", "12"]
    speed = "20" if vehicle == "sim" else "3"  # PX4 SITL: about six minutes
    args += ["--speed", speed, "--json", "--port-base", str(free_udp_block(3))]
    if vehicle == "px4":
        args.append("--px4")
    out = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-2000:]
    result = json.loads(out.stdout)
    assert result["gap_s"] == 0, result
    assert result["all_docked"] is True
    assert result["watch_s"] >= 12 * 60
    shifts = result["shifts"]
    # Each drone relieves the one before it.
    assert result["handovers"] >= 1
    assert len(shifts) == result["handovers"] + 1
    for before, after in zip(shifts, shifts[1:], strict=False):
        assert after["relieves"] == before["sortie_id"]
        assert after["arrived_s"] <= before["left_s"]  # on scene before the other left
        assert before["spare_s"] >= 0
        assert "relieved by" in before["why_left"]
        assert before["battery_left_pct"] > 25  # home with its reserve
    assert shifts[-1]["why_left"] == "the call closed"


def test_an_overwatch_of_no_time_is_refused(tmp_path) -> None:
    args = [DFR, "scenario", "--overwatch-min", "0", "--port-base", str(free_udp_block(3))]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "--overwatch-min must be within" in out.stderr
