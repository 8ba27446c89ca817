"""The `dfr bench` commands: benchmarks that print figures. Those that fly vehicles or
run a server get them from the wiring the composition root lends; `bench video` and
`bench sim` own their options and are run by `dfr.cli.main` itself (registered here
for the help only)."""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from dfr.cli_common import CommandError, Wiring, deployment_arg
from dfr.deployment import load_deployment


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], wiring: Wiring) -> None:
    """Register `bench` and its subcommands, flying the vehicles `wiring` gives."""
    b = sub.add_parser("bench", help="benchmarks that print figures")
    bsub = b.add_subparsers(dest="bench", required=True)
    br = bsub.add_parser("recommend", help="recommend latency on Pueblo and a large deployment")
    br.add_argument("--calls", type=int, default=1000)
    br.add_argument("--json", action="store_true")
    br.set_defaults(func=_bench_recommend)
    bc = bsub.add_parser("cameras", help="covering-camera query over 10,000 fixed cameras")
    bc.add_argument("--cameras", type=int, default=10_000)
    bc.add_argument("--queries", type=int, default=2000)
    bc.add_argument("--size-km", type=float, default=20.0, help="width of the square city")
    bc.add_argument("--json", action="store_true")
    bc.set_defaults(func=_bench_cameras)
    ba = bsub.add_parser("abuse", help="health and dispatch during a login flood and 10 MB bodies")
    ba.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    ba.add_argument(
        "--restart-speed", type=float, default=8.0, help="simulator speed in the restart drill"
    )
    ba.add_argument("--json", action="store_true")
    ba.set_defaults(func=_bench_abuse)
    be = bsub.add_parser("evidence", help="evidence package export and verify time")
    be.add_argument("--minutes", type=float, default=10.0, help="length of the recording")
    be.add_argument("--json", action="store_true")
    be.set_defaults(func=_bench_evidence)
    bu = bsub.add_parser(
        "audit",
        help="audit append rate with and without the chain; verify rate; evidence export time",
    )
    bu.add_argument("--appends", type=int, default=3000, help="entries appended per variant")
    bu.add_argument("--rounds", type=int, default=30, help="pairs of rounds they are split in")
    bu.add_argument("--entries", type=int, default=1_000_000, help="entries in the verified log")
    bu.add_argument(
        "--evidence-minutes", type=float, default=10.0, help="recording in the evidence package"
    )
    bu.add_argument("--json", action="store_true")
    bu.set_defaults(func=_bench_audit)
    bst = bsub.add_parser(
        "store", help="a dispatch cycle's cost on SQLite and PostgreSQL, one store and several"
    )
    bst.add_argument("--postgres", default=None, help="postgresql://… (its rows stay) to compare")
    bst.add_argument("--cycles", type=int, default=300, help="dispatch cycles each way")
    bst.add_argument("--stores", type=int, default=4, help="stores sharing the database at once")
    bst.set_defaults(func=_bench_store)
    bm = bsub.add_parser(
        "metro",
        help="three agencies, 30 stations, calls replayed at speed, consoles, on PostgreSQL",
    )
    bm.add_argument("--postgres", required=True, help="postgresql://… (an empty database)")
    bm.add_argument("--servers", type=int, choices=(1, 2), default=1)
    bm.add_argument("--stations", type=int, default=30)
    bm.add_argument("--seconds", type=float, default=300.0, help="wall time of the replay")
    bm.add_argument("--speed", type=float, default=5.0, help="simulation speed factor")
    bm.add_argument("--calls-per-hour", type=float, default=200.0, help="of vehicle time")
    bm.add_argument("--consoles", type=int, default=50, help="console WebSockets")
    bm.add_argument("--log", type=Path, default=None, help="keep the servers' and drones' log")
    bm.add_argument("--json", action="store_true")
    bm.set_defaults(func=_bench_metro)
    bfo = bsub.add_parser(
        "failover",
        help="two servers on PostgreSQL: kill -9 the one holding the drones mid-flight",
    )
    bfo.add_argument("--postgres", required=True, help="postgresql://… an empty database")
    bfo.add_argument("--speed", type=float, default=8.0, help="simulator speed factor")
    bfo.add_argument("--lease-ttl", type=float, default=5.0, help="drone-link lease TTL (s)")
    bfo.add_argument("--json", action="store_true")
    bfo.set_defaults(func=_bench_failover)
    bf = bsub.add_parser(
        "fidelity", help="the simulator against PX4 SITL (flown now, or recorded), per call"
    )
    deployment_arg(bf)
    bf.add_argument(
        "--calls",
        type=Path,
        default=None,
        help="CSV t_s,lat,lon,priority; calls sharing t_s fly together "
        "(default: the deployment's fidelity-calls.csv)",
    )
    bf.add_argument(
        "--speed",
        type=float,
        default=None,
        help="speed factor of the vehicles (default: 2 with --px4, else the recorded PX4's)",
    )
    bf.add_argument(
        "--sim-speed",
        type=float,
        default=None,
        help="the simulator's own speed factor (default: --speed)",
    )
    bf.add_argument("--px4", action="store_true", help="fly PX4 SITL too (needs DFR_PX4_DIR)")
    bf.add_argument("--px4-runs", type=int, default=1, help="PX4 runs (their spread is shown)")
    bf.add_argument(
        "--sim-runs", type=int, default=1, help="simulator runs (their mean is compared)"
    )
    bf.add_argument(
        "--record", type=Path, default=None, help="with --px4: write PX4's figures to this file"
    )
    bf.add_argument("--port-base", type=int, default=14540, help="UDP port of simulated drone 0")
    bf.add_argument("--json", action="store_true")
    bf.set_defaults(func=partial(_bench_fidelity, wiring=wiring))
    bl = bsub.add_parser(
        "launch", help="dispatch → armed with the mission started, all stations at once, x1"
    )
    deployment_arg(bl)
    bl.add_argument("--rounds", type=int, default=3)
    bl.add_argument("--px4", action="store_true", help="on PX4 SITL (needs DFR_PX4_DIR)")
    bl.add_argument("--port-base", type=int, default=14540, help="UDP port of drone 0")
    bl.add_argument("--json", action="store_true")
    bl.set_defaults(func=partial(_bench_launch, wiring=wiring))
    br = bsub.add_parser(
        "retask", help="urgent call dispatched → a drone flying another call re-tasked, x1"
    )
    deployment_arg(br)
    br.add_argument("--rounds", type=int, default=3)
    br.add_argument("--on-scene-s", type=float, default=60.0, help="time planned on scene")
    br.add_argument("--px4", action="store_true", help="on PX4 SITL (needs DFR_PX4_DIR)")
    br.add_argument("--port-base", type=int, default=14540, help="UDP port of drone 0")
    br.add_argument("--json", action="store_true")
    br.set_defaults(func=partial(_bench_retask, wiring=wiring))
    bal = bsub.add_parser(
        "autolaunch",
        help="gunshot alert POSTed to the server → a policy's drone armed, mission started, x1",
    )
    deployment_arg(bal)
    bal.add_argument("--rounds", type=int, default=5)
    bal.add_argument("--px4", action="store_true", help="on PX4 SITL (needs DFR_PX4_DIR)")
    bal.add_argument("--port-base", type=int, default=14540, help="UDP port of drone 0")
    bal.add_argument("--json", action="store_true")
    bal.set_defaults(func=partial(_bench_autolaunch, wiring=wiring))
    bsub.add_parser("video", help="relay latency, CPU and fps for 1..100 viewers (--help)")
    bsub.add_parser("sim", help="simulated vehicles' achieved speed and CPU (--help)")


def _bench_store(args: argparse.Namespace) -> int:
    from dfr.bench_store import print_result, run

    print_result(run(args.postgres, args.cycles, args.stores))
    return 0


def _bench_metro(args: argparse.Namespace) -> int:
    from dfr.bench_metro import main

    return main(args)


def _bench_failover(args: argparse.Namespace) -> int:
    from dfr.failover_drill import print_result, run_failover

    result = run_failover(args.postgres, args.speed, args.lease_ttl)
    if args.json:
        print(json.dumps(result.as_json()))
    else:
        print_result(result)
    return 0


def _bench_audit(args: argparse.Namespace) -> int:
    from dfr.bench_audit import print_result, run
    from dfr.bench_evidence import run as run_evidence

    result = run(appends=args.appends, rounds=args.rounds, entries=args.entries)
    evidence = run_evidence(args.evidence_minutes)
    if args.json:
        print(json.dumps({**result, "evidence": evidence}))
    else:
        print_result(result)
        print(
            f"evidence package, {evidence['recording_minutes']:g} min of 720p"
            f" ({evidence['package_mb']} MB): export {evidence['export_s']} s,"
            f" verify {evidence['verify_s']} s"
        )
    return 0


def _bench_evidence(args: argparse.Namespace) -> int:
    from dfr.bench_evidence import main as bench_evidence

    return bench_evidence(args)


def _bench_launch(args: argparse.Namespace, wiring: Wiring) -> int:
    from dfr.bench_launch import main as bench_launch

    vehicles = wiring.vehicles_for(True, 1.0, args.port_base, px4=args.px4)
    assert vehicles is not None  # the benchmark always runs its own vehicles
    return bench_launch(args, vehicles)


def _bench_retask(args: argparse.Namespace, wiring: Wiring) -> int:
    from dfr.bench_retask import main as bench_retask

    vehicles = wiring.vehicles_for(True, 1.0, args.port_base, px4=args.px4)
    assert vehicles is not None  # the benchmark always runs its own vehicles
    return bench_retask(args, vehicles)


def _bench_autolaunch(args: argparse.Namespace, wiring: Wiring) -> int:
    from dfr.bench_autolaunch import main as bench_autolaunch

    vehicles = wiring.vehicles_for(True, 1.0, args.port_base, px4=args.px4)
    assert vehicles is not None  # the benchmark always runs its own vehicles
    return bench_autolaunch(args, wiring.app_with(vehicles))


def _bench_abuse(args: argparse.Namespace) -> int:
    from dfr.bench_abuse import main as bench_abuse

    return bench_abuse(args)


def _bench_fidelity(args: argparse.Namespace, wiring: Wiring) -> int:
    import contextlib

    from dfr.bench_fidelity import FidelityError, default_reference, read_reference
    from dfr.bench_fidelity import main as bench_fidelity

    if args.record is not None and not args.px4:
        print("dfr: error: --record needs --px4", file=sys.stderr)
        return 2
    if min(args.px4_runs, args.sim_runs) < 1 or (args.speed is not None and args.speed <= 0):
        print("dfr: error: runs must be 1 or more and the speed factor positive", file=sys.stderr)
        return 2
    deployment = load_deployment(args.deployment)
    if args.speed is None:
        # Against recorded figures, fly as fast as PX4 did: then arrival from dispatch
        # (which counts the ground's wall-time work k times) compares too.
        args.speed = 2.0
        if not args.px4:
            with contextlib.suppress(FidelityError):  # the bench says what is missing
                args.speed = read_reference(default_reference(deployment)).speed_factor
    px4, commit = None, "unknown"
    if args.px4:
        try:
            commit = wiring.px4_commit()
        except CommandError as exc:
            print(f"dfr: error: {exc}", file=sys.stderr)
            return 2
        px4 = wiring.vehicles_for(True, args.speed, args.port_base, px4=True)
    sim_speed = args.sim_speed or args.speed
    sim = wiring.vehicles_for(True, sim_speed, args.port_base)
    assert sim is not None  # a bench always runs its own vehicles
    return bench_fidelity(
        deployment,
        args.calls,
        sim,
        sim_speed,
        args.json,
        px4=px4,
        px4_commit=commit,
        px4_runs=args.px4_runs,
        record=args.record,
        px4_speed_factor=args.speed,
        sim_runs=args.sim_runs,
    )


def _bench_cameras(args: argparse.Namespace) -> int:
    from dfr.bench_cameras import describe, run

    result = run(cameras=args.cameras, queries=args.queries, size_km=args.size_km)
    print(json.dumps(result) if args.json else describe(result))
    return 0


def _bench_recommend(args: argparse.Namespace) -> int:
    from dfr.bench_recommend import run

    result = run(calls=args.calls)
    if args.json:
        print(json.dumps(result))
        return 0
    for name, r in result.items():
        print(
            f"{name:<7} {r['stations']:>3} stations {r['zones']:>5} zones: "
            f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  max {r['max_ms']:.2f} ms "
            f"({r['calls']} calls, {r['mean_candidates']} candidates/call)"
        )
    return 0
