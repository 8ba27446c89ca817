"""The `dfr` command: recommend, coverage, check, bench (and what later parts add)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dfr.deployment import DeploymentError, load_deployment
from missions.geo import CoordinateError, GeoPoint


def main(argv: list[str] | None = None) -> int:
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

    b = sub.add_parser("bench", help="benchmarks that print figures")
    bsub = b.add_subparsers(dest="bench", required=True)
    br = bsub.add_parser("recommend", help="recommend latency on Pueblo and a large deployment")
    br.add_argument("--calls", type=int, default=1000)
    br.add_argument("--json", action="store_true")
    br.set_defaults(func=_bench_recommend)
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


def _check(args: argparse.Namespace) -> int:
    d = load_deployment(args.deployment)
    print(
        f"{d.source}: ok — {d.name}, {len(d.stations)} station(s), "
        f"{len(d.airspace.no_fly)} no-fly zone(s), {len(d.airspace.ceilings)} ceiling zone(s)"
    )
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
