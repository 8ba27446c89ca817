"""The `dfr` command, and the composition root: the one place that decides which
vehicles the application flies (the built-in simulator, PX4 SITL or real drones)
and puts the server together (`server_app`)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import datetime, time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from dfr.camera_file import redact_url
from dfr.deployment import Deployment, DeploymentError, load_deployment
from dfr.services import VehicleProvider
from dfr.settings import Settings
from missions.geo import CoordinateError, GeoPoint

if TYPE_CHECKING:
    from fastapi import FastAPI


def vehicles_for(
    simulate: bool, speed_factor: float, port_base: int, px4: bool = False
) -> VehicleProvider | None:
    """The built-in simulator (one process, instance i on UDP port_base + i), PX4 SITL
    (DFR_PX4_DIR), or None: the deployment's own drone addresses."""
    if px4:
        from sitl.px4_launcher import px4_stations

        return partial(px4_stations, speed_factor=speed_factor)
    if simulate:
        from sitl.sim_process import simulated_stations

        return partial(simulated_stations, speed_factor=speed_factor, api_port_base=port_base)
    return None


def server_app(settings: Settings, deployment: Deployment | None = None) -> FastAPI:
    """The dfr server as `settings` describe it, simulated drones included when asked."""
    from web.server import create_app

    vehicles = vehicles_for(settings.simulate, settings.sim_speed_factor, settings.sim_port_base)
    return create_app(settings, deployment, vehicles)


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] != ["serve"]:  # the command, not an in-process caller
        # SIGTERM stops a command as Ctrl-C does, so what it started (servers, simulated
        # drones, PX4, each in a session of its own) is stopped on the way out. `serve`
        # keeps uvicorn's handling: a graceful shutdown, then death by the signal.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    argv = sys.argv[1:] if argv is None else list(argv)
    # These benchmarks own their options; hand them everything after their name.
    if argv[:2] == ["bench", "video"]:
        from web.video.bench import main as bench_video

        return bench_video(argv[2:])
    if argv[:2] == ["bench", "sim"]:
        from sitl.bench import main as bench_sim

        return int(bench_sim(argv[2:]) or 0)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DeploymentError, CoordinateError) as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dfr", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def database_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--database",
            default=None,
            help="postgresql://user@host/db or an SQLite file"
            " (default: DFR_DATABASE, else the state dir's dfr.sqlite)",
        )

    def deployment_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--deployment",
            type=Path,
            default=None,
            help="deployment TOML (default: the built-in Pueblo deployment)",
        )

    r = sub.add_parser("recommend", help="rank every station for a call at a point")
    deployment_arg(r)
    r.add_argument("--lat", type=float, required=True)
    r.add_argument("--lon", type=float, required=True)
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(func=_recommend)

    c = sub.add_parser("coverage", help="60/90 s isochrones per station and a PNG map")
    deployment_arg(c)
    c.add_argument("--png", type=Path, default=Path("coverage.png"))
    c.add_argument("--cell-m", type=float, default=100.0)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_coverage)

    k = sub.add_parser("check", help="validate a deployment and its airspace")
    deployment_arg(k)
    k.set_defaults(func=_check)

    v = sub.add_parser(
        "serve", help="run the server (built-in Pueblo + simulated drones by default)"
    )
    deployment_arg(v)
    v.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    v.add_argument("--port", type=int, default=None, help="listen port (default 8000)")
    v.add_argument("--state-dir", type=Path, default=None, help="database, users, recordings")
    database_arg(v)
    v.add_argument("--speed", type=float, default=None, help="simulated drones' speed factor")
    v.add_argument("--no-sim", action="store_true", help="connect to real drones, start none")
    v.set_defaults(func=_serve)

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
    sc.set_defaults(func=_scenario)

    e = sub.add_parser("evidence", help="a sortie's signed evidence package: export, verify")
    esub = e.add_subparsers(dest="evidence", required=True)
    ee = esub.add_parser("export", help="write a sortie's package from a state directory")
    ee.add_argument("--sortie", type=int, required=True)
    ee.add_argument("--out", type=Path, required=True)
    ee.add_argument("--state-dir", type=Path, default=None, help="default: DFR_STATE_DIR or var")
    database_arg(ee)
    deployment_arg(ee)
    ee.set_defaults(func=_evidence_export)
    ev = esub.add_parser("verify", help="check a package: signature, every file, nothing added")
    ev.add_argument("package", type=Path)
    ev.add_argument("--public-key", type=Path, default=None, help="the published key (PEM)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=_evidence_verify)

    pl = sub.add_parser("plan", help="QGroundControl .plan files")
    plsub = pl.add_subparsers(dest="plan", required=True)
    pf = plsub.add_parser("fence", help="a plan's fence as dfr airspace features (GeoJSON)")
    pf.add_argument("plan_file", type=Path)
    pf.add_argument("--out", type=Path, default=None, help="default: print")
    pf.set_defaults(func=_plan_fence)

    a = sub.add_parser("audit", help="the audit log")
    asub = a.add_subparsers(dest="audit", required=True)
    av = asub.add_parser(
        "verify",
        help="check the audit log's hash chain and signed checkpoints, reading only;"
        " exit status 0 when intact, 1 when not",
    )
    where = av.add_mutually_exclusive_group()
    where.add_argument(
        "--database", help="a dfr database file (or a copy of one), or a postgresql:// URL"
    )
    where.add_argument(
        "--state-dir",
        type=Path,
        help="a state dir: its database, checkpoints file and public key (default: DFR_STATE_DIR)",
    )
    av.add_argument("--checkpoints", type=Path, help="a checkpoints file (JSON lines)")
    av.add_argument(
        "--public-key",
        type=Path,
        action="append",
        help="the signing key's public half (PEM); again for each key the server ever had",
    )
    av.add_argument("--json", action="store_true", help="print JSON")
    av.set_defaults(func=_audit_verify)

    rt = sub.add_parser(
        "retention", help="delete what the deployment's [retention] no longer keeps"
    )
    rtsub = rt.add_subparsers(dest="retention", required=True)
    rr = rtsub.add_parser(
        "run", help="delete old recordings and flight records (held ones stay), audited"
    )
    rr.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    rr.add_argument("--state-dir", type=Path, default=None, help="default: DFR_STATE_DIR or var")
    database_arg(rr)
    deployment_arg(rr)
    rr.add_argument("--json", action="store_true")
    rr.set_defaults(func=_retention_run)

    d = sub.add_parser("db", help="the store's database: migrate, back up (before an upgrade)")
    dsub = d.add_subparsers(dest="db", required=True)
    dm = dsub.add_parser(
        "migrate", help="bring its schema up to this release's; prints the versions (idempotent)"
    )
    db_backup = dsub.add_parser(
        "backup", help="a consistent copy, while the server runs (PostgreSQL: pg_dump)"
    )
    db_backup.add_argument("--out", type=Path, required=True, help="the copy (a new file)")
    for sp in (dm, db_backup):
        database_arg(sp)
        sp.add_argument("--state-dir", type=Path, default=None, help="default: DFR_STATE_DIR")
    dm.set_defaults(func=_db_migrate)
    db_backup.set_defaults(func=_db_backup)

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
    bf.set_defaults(func=_bench_fidelity)
    bl = bsub.add_parser(
        "launch", help="dispatch → armed with the mission started, all stations at once, x1"
    )
    deployment_arg(bl)
    bl.add_argument("--rounds", type=int, default=3)
    bl.add_argument("--px4", action="store_true", help="on PX4 SITL (needs DFR_PX4_DIR)")
    bl.add_argument("--port-base", type=int, default=14540, help="UDP port of drone 0")
    bl.add_argument("--json", action="store_true")
    bl.set_defaults(func=_bench_launch)
    br = bsub.add_parser(
        "retask", help="urgent call dispatched → a drone flying another call re-tasked, x1"
    )
    deployment_arg(br)
    br.add_argument("--rounds", type=int, default=3)
    br.add_argument("--on-scene-s", type=float, default=60.0, help="time planned on scene")
    br.add_argument("--px4", action="store_true", help="on PX4 SITL (needs DFR_PX4_DIR)")
    br.add_argument("--port-base", type=int, default=14540, help="UDP port of drone 0")
    br.add_argument("--json", action="store_true")
    br.set_defaults(func=_bench_retask)
    bal = bsub.add_parser(
        "autolaunch",
        help="gunshot alert POSTed to the server → a policy's drone armed, mission started, x1",
    )
    deployment_arg(bal)
    bal.add_argument("--rounds", type=int, default=5)
    bal.add_argument("--px4", action="store_true", help="on PX4 SITL (needs DFR_PX4_DIR)")
    bal.add_argument("--port-base", type=int, default=14540, help="UDP port of drone 0")
    bal.add_argument("--json", action="store_true")
    bal.set_defaults(func=_bench_autolaunch)
    bsub.add_parser("video", help="relay latency, CPU and fps for 1..100 viewers (--help)")
    bsub.add_parser("sim", help="simulated vehicles' achieved speed and CPU (--help)")
    return p


def _recommend(args: argparse.Namespace) -> int:
    from dfr.recommend import recommend

    deployment = load_deployment(args.deployment)
    rec = recommend(deployment, GeoPoint(args.lat, args.lon))
    if args.json:
        print(json.dumps(rec.as_json()))
        return 0
    print(f"{deployment.name}: call at {args.lat:.5f}, {args.lon:.5f}")
    for i, c in enumerate(rec.candidates, 1):
        note = " (stand-off: scene in a no-fly zone)" if c.route.standoff else ""
        if c.mutual_aid is not None:
            note += f" [mutual aid from {c.agency}: {c.mutual_aid}]"
        turns = len(c.route.waypoints) - 2
        print(
            f"  {i}. {c.station_id:<12} {c.drone_id:<8} ETA {c.eta_s:5.1f} s  "
            f"route {c.distance_m:6.0f} m, {turns} turn(s), {c.route.cruise_altitude_m:.0f} m AGL"
            f"{note}"
        )
    for e in rec.excluded:
        print(f"  -  {e.station_id:<12} {e.drone_id:<8} excluded: {e.reason}")
    if not rec.candidates:
        print("  no station can serve this call")
    return 0


def _coverage(args: argparse.Namespace) -> int:
    from dfr.coverage import compute_coverage, write_map

    deployment = load_deployment(args.deployment)
    cov = compute_coverage(deployment, cell_m=args.cell_m)
    write_map(deployment, cov, args.png)
    if args.json:
        print(json.dumps({**cov.as_json(), "png": str(args.png)}))
        return 0
    print(f"{deployment.name}: operational area {cov.operational_area_km2:.1f} km²")
    for s in cov.stations:
        print(
            f"  {s.station_id:<12} within 60 s: {s.area_km2[60.0]:6.2f} km²   "
            f"within 90 s: {s.area_km2[90.0]:6.2f} km²"
        )
    print(
        f"  share of the operational area covered: within 60 s {cov.share_covered[60.0]:.1%}, "
        f"within 90 s {cov.share_covered[90.0]:.1%}"
    )
    print(f"  map written to {args.png}")
    return 0


def _evidence_export(args: argparse.Namespace) -> int:
    import asyncio
    import getpass
    import shutil

    from dfr.evidence import export_package
    from dfr.store import NotFound, Store

    settings = _settings(args)
    deployment = load_deployment(args.deployment or settings.deployment)

    async def run() -> Path:
        async with Store.open(settings.database_target) as store:
            actor = f"cli:{getpass.getuser()}"
            subject = f"sortie:{args.sortie}"
            async with store.attempt(actor, "evidence.export", subject, {"out": args.out.name}):
                return await export_package(
                    store,
                    args.sortie,
                    settings.recordings_dir,
                    deployment,
                    settings.audit_signing_key_path,
                )

    if _no_database(settings):
        return 2
    try:
        made = asyncio.run(run())
    except NotFound as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    shutil.move(made, args.out)
    print(f"{args.out}: evidence package of sortie {args.sortie}")
    return 0


def _evidence_verify(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from dfr.evidence import EvidenceError, verify_package

    try:
        key = args.public_key.read_bytes() if args.public_key else None
        verdict = verify_package(args.package, key)
    except (OSError, EvidenceError) as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"intact": verdict.intact, **asdict(verdict)}))
    else:
        for problem in verdict.problems:
            print(f"FAIL {problem}")
        where = (
            "the key given"
            if verdict.key_source == "given"
            else ("the key inside the package: compare its fingerprint with the published one")
        )
        print(
            f"{'INTACT' if verdict.intact else 'NOT INTACT'}: {verdict.files} files;"
            f" signed by key {verdict.key_fingerprint[:16]}… ({where})"
        )
    return 0 if verdict.intact else 1


def _plan_fence(args: argparse.Namespace) -> int:
    from missions.qgc_plan import PlanError, fence_features

    try:
        features = fence_features(json.loads(args.plan_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = exc if isinstance(exc, PlanError | OSError) else f"malformed plan: {exc!r}"
        print(f"dfr: error: {args.plan_file}: {reason}", file=sys.stderr)
        return 2
    text = json.dumps({"type": "FeatureCollection", "features": features}, indent=2)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


def _check(args: argparse.Namespace) -> int:
    d = load_deployment(args.deployment)
    for warning in d.warnings:
        print(f"dfr: warning: {warning}", file=sys.stderr)
    print(
        f"{d.source}: ok — {d.name}, {len(d.stations)} station(s), "
        f"{len(d.airspace.no_fly)} no-fly zone(s), {len(d.airspace.ceilings)} ceiling zone(s), "
        f"{len(d.airspace.areas)} named area(s)"
    )
    policies = d.launch_policies
    for p in policies.policies:
        then = (
            f", {p.confirm_s:g} s to confirm, then {p.on_timeout}"
            if p.mode == "pilot_confirm"
            else ""
        )
        where = f" in {p.area.name!r}" if p.area is not None else ""
        hours = f" {p.hours}" if p.hours is not None else ""
        sources = "/".join(sorted(p.sources))
        print(f"  launch policy {p.name!r}: {sources}{where}{hours}, {p.mode}{then}")
    if policies:
        print(f"  at most {policies.max_concurrent} policy launch(es) in flight at once")
    if d.tak is not None:
        print(f"  TAK out (Cursor on Target): {d.tak.describe()}")
    else:
        print("  TAK out: off (no [tak] section)")
    _print_cameras(d)
    _print_agencies(d)
    return 0


def _print_agencies(d: Deployment) -> None:
    """What `dfr check` says of the agencies and their mutual aid."""
    if not d.agencies:
        print("  agencies: one (no [[agencies]])")
        return
    for a in d.agencies.agencies:
        sources = f"; sources {', '.join(sorted(a.sources))}" if a.sources else ""
        print(f"  agency {a.id!r} ({a.name}): stations {', '.join(sorted(a.stations))}{sources}")
    for owner in d.agencies.ids:
        rules = [
            f"{into} {d.agencies.rule(owner, into)}" for into in d.agencies.ids if into != owner
        ]
        print(f"  mutual aid from {owner}: {', '.join(rules)}")


def _print_cameras(d: Deployment) -> None:
    """What `dfr check` says of the fixed cameras: how many, and the first few (their
    sources with any password redacted)."""
    if not len(d.cameras):
        print("  fixed cameras: none (no [cameras] file)")
        return
    print(f"  fixed cameras: {len(d.cameras)}, up to {d.cameras_per_call} shown per call")
    for camera in list(d.cameras)[:10]:
        p = camera.position
        view = (
            "dome" if camera.fov_deg >= 360 else f"{camera.heading_deg:g}° ±{camera.fov_deg / 2:g}°"
        )
        print(
            f"    {camera.id}: {camera.name} at {p.latitude_deg:.5f}, {p.longitude_deg:.5f}; "
            f"{view}, {camera.range_m:g} m; {redact_url(camera.source)}"
        )
    if len(d.cameras) > 10:
        print(f"    ... and {len(d.cameras) - 10} more")


def _serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from dfr.auth import ensure_demo_users
    from dfr.log_redaction import uvicorn_log_config

    overrides = {
        "deployment": args.deployment,
        "host": args.host,
        "port": args.port,
        "state_dir": args.state_dir,
        "database": args.database,
        "sim_speed_factor": args.speed,
        "simulate": False if args.no_sim else None,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    deployment = load_deployment(settings.deployment)  # fail early, with the file's name
    if (refused := _unusable_database(settings)) is not None:
        print(f"dfr: error: {refused}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    base = f"http://{settings.host}:{settings.port}"
    print(
        f"dfr: {deployment.name}, {len(deployment.stations)} station(s)"
        f"{' with simulated drones' if settings.simulate else ''}"
    )
    for name, path in (
        ("log in", "/"),
        ("dispatcher", "/dispatcher"),
        ("pilot console", "/pilot"),
        ("RTCC wall", "/wall"),
        ("public log", "/transparency"),
        ("API docs", "/docs"),
    ):
        print(f"  {name:<14} {base}{path}")
    users = settings.users_path
    passwords = settings.state_dir / "demo-passwords.txt"
    if settings.users_file is None:
        ensure_demo_users(users, deployment.agencies.ids)
        who = (
            "per agency <agency>-dispatcher, -pilot, -rtcc, -officer; fusion; admin"
            if deployment.agencies
            else "dispatcher, pilot, rtcc, admin, officer"
        )
        print(f"  users: {users} — demo users {who}; their passwords are in {passwords}")
        if passwords.exists():
            for line in passwords.read_text().splitlines():
                print(f"    {line}")
    officer = "<agency>-officer" if deployment.agencies else "officer"
    print(f'  officers log in (user {officer}) for "Drone to me" at /officer, or open a share link')
    app = server_app(settings, deployment)
    log_config = uvicorn_log_config(uvicorn.config.LOGGING_CONFIG)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level="info", log_config=log_config
    )
    return 0


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


def _scenario(args: argparse.Namespace) -> int:
    import asyncio

    from dfr.scenario import ScenarioError, read_calls, run_scenario

    deployment = load_deployment(args.deployment)
    path = args.calls or deployment.source.parent / "calls.csv"
    vehicles = vehicles_for(True, args.speed, args.port_base, px4=args.px4)
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
        c = result.calibrated
        print(
            f"  calibrated ETA: [eta] launch_latency_s = {c.launch_latency_s:.2f}, "
            f"horizontal_accel_m_s2 = {c.horizontal_accel_m_s2:.3f}"
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


def _settings(args: argparse.Namespace) -> Settings:
    """The settings, with the command's --state-dir and --database."""
    overrides = {"state_dir": args.state_dir, "database": getattr(args, "database", None)}
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _no_database(settings: Settings) -> bool:
    """Say so, and True, when the SQLite file is missing (a URL is tried as it is)."""
    if settings.database_is_postgres or settings.database_path.exists():
        return False
    print(f"dfr: error: no database at {settings.database_path}", file=sys.stderr)
    return True


def _unusable_database(settings: Settings) -> str | None:
    """Why the server cannot start on its database (unreachable, or newer than this
    dfr), None when it can; a new SQLite file is fine."""
    from dfr.db_admin import database_version
    from dfr.db_connection import DatabaseError, describe
    from dfr.store_schema import LATEST, newer_schema_message

    target = settings.database_target
    if not settings.database_is_postgres and not settings.database_path.exists():
        return None
    try:
        version = database_version(target)
    except DatabaseError as exc:
        return f"cannot open the database {describe(target)}: {exc}"
    return f"{describe(target)}: {newer_schema_message(version)}" if version > LATEST else None


def _db_migrate(args: argparse.Namespace) -> int:
    from dfr.db_admin import AdminError, migrate_database
    from dfr.db_connection import DatabaseError, describe
    from dfr.store_schema import LATEST

    settings = _settings(args)
    target = settings.database_target
    try:
        before, now = migrate_database(target)
    except (AdminError, *DatabaseError) as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    what = "up to date" if before == now else "migrated"
    print(f"{describe(target)}: schema version {before} -> {now} ({what}; this dfr: {LATEST})")
    return 0


def _db_backup(args: argparse.Namespace) -> int:
    from dfr.db_admin import AdminError, backup_database, database_version
    from dfr.db_connection import DatabaseError, describe

    settings = _settings(args)
    target = settings.database_target
    try:
        version = database_version(target)
        backup_database(target, args.out)
    except (AdminError, *DatabaseError) as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    size = args.out.stat().st_size
    print(f"{describe(target)} (schema version {version}) backed up to {args.out}: {size} bytes")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from dfr.audit_verify import VerifyError, read_public_key, verify

    database, checkpoints, key_paths = args.database, args.checkpoints, args.public_key or []
    key_beside_database = False
    if database is None:
        settings = Settings(state_dir=args.state_dir) if args.state_dir else Settings()
        database = settings.database_target
        if checkpoints is None and settings.audit_checkpoints_path.exists():
            checkpoints = settings.audit_checkpoints_path
        if not key_paths and settings.audit_public_key_path.exists():
            key_paths, key_beside_database = [settings.audit_public_key_path], True
    try:
        report = verify(database, checkpoints, [read_public_key(p) for p in key_paths])
    except VerifyError as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    if key_beside_database:
        report.notes.append(
            f"the public key came from {key_paths[0]}, next to the database it vouches for:"
            " for evidence, give --public-key a copy kept elsewhere"
        )
    print(json.dumps(report.as_json()) if args.json else report.text())
    return 0 if report.intact else 1


def _retention_run(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import UTC, datetime

    from dfr.retention import RetentionResult, run_retention
    from dfr.store import Store

    settings = _settings(args)
    deployment = load_deployment(args.deployment or settings.deployment)
    if _no_database(settings):
        return 2

    async def run() -> RetentionResult:
        async with Store.open(settings.database_target) as store:
            return await run_retention(
                store,
                settings.recordings_dir,
                deployment.retention,
                datetime.now(UTC),
                dry_run=args.dry_run,
            )

    result = asyncio.run(run())
    if args.json:
        print(json.dumps(result.as_json()))
        return 1 if result.failed else 0
    policy = deployment.retention
    print(
        f"retention at {result.plan.now_utc}: recordings older than {policy.recordings_days}"
        f" days, flight records older than {policy.records_days} days"
        f"{' (dry run: nothing is deleted)' if args.dry_run else ''}"
    )
    if args.dry_run:
        for due in result.plan.recordings:
            names = [p.name for p in (due.recording, due.manifest) if p is not None]
            print(f"  would delete {', '.join(names)} ({due.subject}, ended {due.ended_utc})")
        for r in result.plan.records:
            print(
                f"  would delete sortie {r.sortie_id}'s {r.track_points} track point(s) and"
                f" {r.transfers} transfer(s) (last event {r.last_event_at})"
            )
    for f in result.files:
        matched = {True: "matches", False: "DOES NOT match", None: "-"}[f.matches_manifest]
        print(
            f"  deleted {f.name} (sortie {f.sortie_id}) sha256 {f.sha256}"
            f" {f.size_bytes} bytes; manifest hash: {matched}"
        )
    for r in result.records:
        print(
            f"  deleted sortie {r.sortie_id}'s {r.track_points} track point(s) and"
            f" {r.transfers} transfer(s)"
        )
    for k in result.kept:
        print(f"  kept {k.what} (sortie {k.sortie_id}): {k.why}")
    for failure in result.failed:
        print(f"  FAILED {failure}")
    return 1 if result.failed else 0


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


def _bench_launch(args: argparse.Namespace) -> int:
    from dfr.bench_launch import main as bench_launch

    vehicles = vehicles_for(True, 1.0, args.port_base, px4=args.px4)
    assert vehicles is not None  # the benchmark always runs its own vehicles
    return bench_launch(args, vehicles)


def _bench_retask(args: argparse.Namespace) -> int:
    from dfr.bench_retask import main as bench_retask

    vehicles = vehicles_for(True, 1.0, args.port_base, px4=args.px4)
    assert vehicles is not None  # the benchmark always runs its own vehicles
    return bench_retask(args, vehicles)


def _bench_autolaunch(args: argparse.Namespace) -> int:
    from dfr.bench_autolaunch import main as bench_autolaunch
    from web.server import create_app

    vehicles = vehicles_for(True, 1.0, args.port_base, px4=args.px4)
    assert vehicles is not None  # the benchmark always runs its own vehicles
    return bench_autolaunch(args, partial(create_app, vehicles=vehicles))


def _bench_abuse(args: argparse.Namespace) -> int:
    from dfr.bench_abuse import main as bench_abuse

    return bench_abuse(args)


def _bench_fidelity(args: argparse.Namespace) -> int:
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
        from sitl.px4_launcher import Px4NotFound, px4_build_dir, px4_commit

        try:
            commit = px4_commit(px4_build_dir())
        except Px4NotFound as exc:
            print(f"dfr: error: {exc}", file=sys.stderr)
            return 2
        px4 = vehicles_for(True, args.speed, args.port_base, px4=True)
    sim_speed = args.sim_speed or args.speed
    sim = vehicles_for(True, sim_speed, args.port_base)
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


if __name__ == "__main__":
    sys.exit(main())
