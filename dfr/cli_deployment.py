"""The `dfr` commands that read a deployment and fly nothing: `recommend` (rank the
stations for a call), `coverage` (isochrones and a map) and `check` (validate it and
say what it holds)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dfr.camera_file import redact_url
from dfr.cli_common import deployment_arg
from dfr.deployment import load_deployment
from missions.geo import GeoPoint

if TYPE_CHECKING:
    from dfr.deployment import Deployment


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `recommend`, `coverage` and `check`."""
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
