"""The fidelity bench's bookkeeping: recorded PX4 figures, comparisons, the command's errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from dfr.bench_fidelity import (
    CallFigures,
    FidelityError,
    Reference,
    compare,
    default_calls,
    default_reference,
    read_reference,
    write_reference,
)
from dfr.deployment import builtin_deployment_path, load_deployment
from dfr.scenario import ScenarioCall, read_calls

DFR = shutil.which("dfr", path=str(Path(sys.executable).parent)) or "dfr"
LAWRENCE = builtin_deployment_path().parent.parent / "lawrence" / "lawrence.toml"


def figures(
    arrival_s: float, armed_s: float, station: str = "hq", departure_s: float | None = None
) -> CallFigures:
    departure = armed_s - 3.0 if departure_s is None else departure_s
    return CallFigures(
        38.26, -104.6, station, 900.0, arrival_s, armed_s, departure, 1.0, 2.0, 50.0, 10.0, 80.0
    )


def reference(*runs: tuple[CallFigures, ...]) -> Reference:
    return Reference("02e73e3b", 1.0, 5.0, "2026-11-30T12:00:00+00:00", tuple(runs))


def test_reference_averages_runs_and_reports_their_spread(tmp_path) -> None:
    ref = reference((figures(60.0, 58.0),), (figures(62.0, 59.0),))
    assert ref.calls[0].arrival_s == 61.0
    assert ref.calls[0].armed_to_on_scene_s == 58.5
    assert ref.spread_pct("arrival_s") == pytest.approx(100 * 2 / 61, abs=0.01)
    path = tmp_path / "ref.json"
    write_reference(path, ref)
    assert read_reference(path) == ref


def test_a_call_agrees_within_3_pct_from_departure_and_dispatch_on_the_same_station() -> None:
    px4 = figures(60.0, 58.0)  # 55 s from departure
    ok, late_launch, slow_flight, elsewhere = compare(
        [px4] * 4,
        [
            figures(61.7, 59.7, departure_s=56.6),
            figures(62.0, 58.0),
            figures(60.0, 58.0, departure_s=57.0),
            figures(60.0, 58.0, station="eastside"),
        ],
    )
    assert ok.agrees()
    assert ok.difference_pct("arrival_s") == pytest.approx(2.83, abs=0.01)
    assert ok.difference_pct("departure_to_on_scene_s") == pytest.approx(2.91, abs=0.01)
    # 3.3 % later from dispatch: judged only when both flew at one speed factor.
    assert not late_launch.agrees()
    assert late_launch.agrees(from_dispatch=False)
    assert not slow_flight.agrees(from_dispatch=False)  # 3.6 % slower from departure
    assert not elsewhere.agrees()


def test_bad_reference_files_are_named(tmp_path) -> None:
    path = tmp_path / "px4.json"
    with pytest.raises(FidelityError, match="cannot read"):
        read_reference(path)
    path.write_text(json.dumps({"px4_commit": "x", "runs": []}))
    with pytest.raises(FidelityError, match=f"{path}: not a PX4 fidelity reference"):
        read_reference(path)


@pytest.mark.parametrize("path", [builtin_deployment_path(), LAWRENCE])
def test_built_in_references_cover_the_built_in_fidelity_calls(path) -> None:
    deployment = load_deployment(path)
    calls = read_calls(default_calls(deployment))
    ref = read_reference(default_reference(deployment))
    assert len(calls) == 12
    assert ref.covers(calls)
    assert ref.px4_commit.startswith("02e73e3b")
    assert not ref.covers([replace(c, latitude_deg=c.latitude_deg + 0.001) for c in calls])
    assert all(f.arrival_s and f.departure_to_on_scene_s for f in ref.calls)
    # Each wave of the call set is one call per station: every call starts from its dock.
    waves: dict[float, list[str | None]] = {}
    for call, px4 in zip(calls, ref.calls, strict=True):
        waves.setdefault(call.t_s, []).append(px4.station_id)
    assert all(sorted(w) == sorted(s.id for s in deployment.stations) for w in waves.values())


def test_the_command_refuses_calls_it_has_no_px4_figures_for(tmp_path) -> None:
    calls = tmp_path / "calls.csv"
    calls.write_text("t_s,lat,lon,priority\n0,38.2590,-104.6050,1\n")
    out = subprocess.run(
        [DFR, "bench", "fidelity", "--calls", str(calls)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "recorded PX4 figures are for other calls" in out.stderr
    out = subprocess.run(
        [DFR, "bench", "fidelity", "--record", str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "--record needs --px4" in out.stderr


def test_scenario_call_positions_must_match_exactly() -> None:
    ref = reference((figures(60.0, 58.0),))
    assert ref.covers([ScenarioCall(0.0, 38.26, -104.6)])
    assert not ref.covers([ScenarioCall(0.0, 38.26, -104.6), ScenarioCall(0.0, 38.27, -104.6)])
