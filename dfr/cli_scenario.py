"""The `dfr scenario` command: fly a CSV of calls with one drone per station (or keep
one call watched, `--overwatch-min`) and print what happened, on the vehicles the
composition root lends it."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from dfr.cli_common import Wiring, deployment_arg
from dfr.deployment import load_deployment

if TYPE_CHECKING:
    from dfr.deployment import Deployment
    from dfr.services import VehicleProvider


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser], wiring: Wiring) -> None:
    """Register `scenario`, flying the vehicles `wiring` gives."""
    sc = sub.add_parser("scenario", help="fly a CSV of calls with one drone per station")
    deployment_arg(sc)
    sc.add_argument(
        "--calls",
        type=Path,
        default=None,
        help="CSV t_s,lat,lon,priority (default: the built-in Pueblo call set)",
    )
    sc.add_argument("--speed", type=float, default=10.0, help="simulation speed factor")
    sc.add_argument("--on-scene-s", type=float, default=None, help="time held over each scene")
    sc.add_argument("--px4", action="store_true", help="fly PX4 SITL (needs DFR_PX4_DIR)")
    sc.add_argument("--port-base", type=int, default=14540, help="UDP port of drone 0")
    sc.add_argument(
        "--local-time",
        type=_time_of_day,
        default=None,
        help="HH:MM: judge launch policies' hours at this local time (default: now)",
    )
    sc.add_argument(
        "--overwatch-min",
        type=float,
        default=None,
        metavar="MIN",
        help="instead of the calls: keep one call watched this many minutes (overwatch) and "
        "report the gap in coverage",
    )
    sc.add_argument("--json", action="store_true")
    sc.set_defaults(func=partial(_scenario, wiring=wiring))


def _overwatch_scenario(
    args: argparse.Namespace, deployment: Deployment, vehicles: VehicleProvider
) -> int:
    import asyncio

    from dfr.scenario_overwatch import run_overwatch

    if not 0 < args.overwatch_min <= 24 * 60:
        print("dfr: error: --overwatch-min must be within (0, 1440]", file=sys.stderr)
        return 2
    result = asyncio.run(run_overwatch(deployment, vehicles, args.speed, args.overwatch_min))
    if args.json:
        print(json.dumps(result.as_json()))
        return 0
    print(
        f"{deployment.name}: one call kept watched {args.overwatch_min:g} min, speed"
        f" x{args.speed:g}, times in vehicle seconds since the call"
    )
    print(
        f"  {'sortie':>6} {'drone':<8} {'relieves':>8} {'arrived':>8} {'left':>8}"
        f" {'battery':>8}  why"
    )
    for s in result.shifts:
        print(
            f"  {s.sortie_id:>6} {s.drone_id:<8} {s.relieves or '-':>8} {s.arrived_s:>8.0f}"
            f" {_f(s.left_s, 0):>8} {_f(s.battery_left_pct, 0):>7}%  {s.why_left}"
        )
    spare = _f(result.min_spare_s, 0)
    print(
        f"  watched {result.watch_s:.0f} s with {len(result.shifts)} drone(s), {result.handovers}"
        f" handover(s) (relieved with at least {spare} s to spare); gap in coverage"
        f" {result.gap_s:.0f} s"
        f" (target: none); every drone docked: {'yes' if result.all_docked else 'NO'}"
    )
    return 0 if result.gap_s == 0 and result.all_docked else 1


def _scenario(args: argparse.Namespace, wiring: Wiring) -> int:
    import asyncio

    from dfr.scenario import ScenarioError, read_calls, run_scenario

    deployment = load_deployment(args.deployment)
    path = args.calls or deployment.source.parent / "calls.csv"
    vehicles = wiring.vehicles_for(True, args.speed, args.port_base, px4=args.px4)
    assert vehicles is not None  # a scenario always runs its own vehicles
    if args.overwatch_min is not None:
        return _overwatch_scenario(args, deployment, vehicles)
    try:
        calls = read_calls(path)
        result = asyncio.run(
            run_scenario(
                deployment,
                calls,
                vehicles,
                args.speed,
                args.on_scene_s,
                policy_time=args.local_time,
            )
        )
    except ScenarioError as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_json()))
        return 0
    print(
        f"{deployment.name}: {len(calls)} call(s), speed x{args.speed:g} "
        f"(achieved x{result.achieved_speed_factor}), times in vehicle seconds"
    )
    print(
        f"  {'call':>4} {'t_s':>6} {'station':<10} {'route m':>8} {'ETA s':>6} "
        f"{'arrival s':>9} {'err %':>6} {'armed s':>7} {'takeoff s':>9}  final, launched by"
    )
    for c in result.calls:
        err = c.eta_error_pct
        print(
            f"  {c.call_id:>4} {c.t_s:>6.0f} {c.station_id or '-':<10} {_f(c.route_m, 0):>8} "
            f"{_f(c.eta_s)} {_f(c.arrival_s):>9} {_f(err):>6} {_f(c.dispatch_to_armed_s):>7} "
            f"{_f(c.dispatch_to_takeoff_s):>9}  {c.final_state or 'not flown'}"
            f"{' (' + c.reason + ')' if c.reason else ''}"
            f"{', ' + c.launched_by if c.launched_by else ''}"
            f"{' [policies: ' + c.policy_outcome + ']' if c.policy_outcome else ''}"
        )
    s = result.summary()
    if s["auto_launched"]:
        print(f"  launched by a policy with no click: {s['auto_launched']} call(s)")
    print(
        f"  arrival p50 {s['arrival_p50_s']} s, p90 {s['arrival_p90_s']} s, max "
        f"{s['arrival_max_s']} s; on scene within 90 s: {s['within_90s_share']:.0%}"
    )
    bound = "holds" if s["eta_within_bound"] else "DOES NOT HOLD"
    print(
        f"  |ETA error| p50 {s['eta_abs_error_p50_pct']} %, max {s['eta_abs_error_max_pct']} %"
        f" (bound {s['eta_error_bound_pct']:g} %: {bound});"
        f" dispatch→armed max {s['dispatch_to_armed_max_s']} s,"
        f" dispatch→takeoff max {s['dispatch_to_takeoff_max_s']} s"
    )
    for e in s["drone_eta"]:
        source = (
            f"calibrated from {e['flights']} flight(s)"
            if e["calibrated"]
            else f"deployment's [eta] ({e['samples']} of {e['calibrate_after_flights']} flights)"
        )
        print(
            f"  {e['drone_id']} ETA: {source}, launch {e['launch_latency_s']:.2f} s,"
            f" accel {e['horizontal_accel_m_s2']:.3f} m/s²"
        )
    if result.calibrated:
        eta = result.calibrated
        print(
            f"  calibrated ETA: [eta] launch_latency_s = {eta.launch_latency_s:.2f}, "
            f"horizontal_accel_m_s2 = {eta.horizontal_accel_m_s2:.3f}"
        )
    return 0


def _time_of_day(text: str) -> time:
    """HH:MM, for argparse."""
    try:
        return datetime.strptime(text, "%H:%M").time()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time of day HH:MM") from None


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
