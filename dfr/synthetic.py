"""Generated deployments for benchmarks and tests: many stations, many no-fly zones."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from missions.geo import GeoPoint, LocalFrame

CENTER = GeoPoint(38.2659, -104.6097)


def write_large_deployment(
    directory: Path, stations: int = 50, zones: int = 1000, size_km: float = 40.0, seed: int = 7
) -> Path:
    """Write a square deployment with `stations` stations and `zones` no-fly polygons.

    Zones are random convex-ish polygons 60–400 m across; stations sit on a
    grid, moved off any zone. Returns the TOML path.
    """
    rng = random.Random(seed)
    frame = LocalFrame(CENTER)
    half = size_km * 500.0
    area = [
        frame.to_lonlat(x, y)
        for x, y in ((-half, -half), (half, -half), (half, half), (-half, half))
    ]
    features = [_feature("operational_area", "generated area", [*area, area[0]])]
    centres: list[tuple[float, float, float]] = []
    for i in range(zones):
        cx, cy = rng.uniform(-half * 0.95, half * 0.95), rng.uniform(-half * 0.95, half * 0.95)
        radius = rng.uniform(30.0, 200.0)
        sides = rng.randint(4, 9)
        start = rng.uniform(0, 2 * math.pi)
        ring = []
        for k in range(sides):
            a = start + 2 * math.pi * k / sides
            r = radius * rng.uniform(0.7, 1.0)
            ring.append(frame.to_lonlat(cx + r * math.cos(a), cy + r * math.sin(a)))
        features.append(_feature("no_fly", f"zone {i}", [*ring, ring[0]], buffer_m=50))
        centres.append((cx, cy, radius + 50.0 + 20.0))

    per_side = math.ceil(math.sqrt(stations))
    step = 2 * half / per_side
    toml = [
        "[deployment]",
        'name = "Generated large deployment"',
        'airspace = "large-airspace.geojson"',
        "[defaults]",
        "no_fly_buffer_m = 50",
    ]
    placed = 0
    for gy in range(per_side):
        for gx in range(per_side):
            if placed == stations:
                break
            x, y = -half + step * (gx + 0.5), -half + step * (gy + 0.5)
            while any(math.hypot(x - cx, y - cy) < r for cx, cy, r in centres):
                x += 150.0
            lon, lat = frame.to_lonlat(x, y)
            toml += [
                "[[stations]]",
                f'id = "s{placed}"',
                f'name = "Station {placed}"',
                f"lat = {lat:.7f}",
                f"lon = {lon:.7f}",
                "alt_m = 1430",
                "[stations.drone]",
                f'id = "d{placed}"',
                f'mavlink = "udpin://127.0.0.1:{14540 + placed}"',
            ]
            placed += 1
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "large-airspace.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    path = directory / "large.toml"
    path.write_text("\n".join(toml) + "\n")
    return path


def _feature(kind: str, name: str, ring: list[tuple[float, float]], **props: float) -> dict:
    return {
        "type": "Feature",
        "properties": {"kind": kind, "name": name, **props},
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
    }


#: The metro deployment's agencies, west to east, and mutual aid between them:
#: neighbours help at once, the two ends with the owner's pilot confirming.
METRO_AGENCIES = ("city", "county", "tribal")


def write_metro_deployment(
    directory: Path,
    addresses: list[str],
    size_km: float = 15.0,
    zones: int = 30,
    seed: int = 11,
    video: str | None = None,
) -> Path:
    """Write a metro deployment: three agencies side by side, each a vertical strip of a
    square `size_km` across with a third of the stations (one per address in `addresses`,
    on a grid), random no-fly zones, and mutual aid between the agencies; every drone's
    feed is `video` when given (else the simulator's camera). Returns the TOML path."""
    rng = random.Random(seed)
    frame = LocalFrame(CENTER)
    half = size_km * 500.0
    square = [(-half, -half), (half, -half), (half, half), (-half, half)]
    area = [frame.to_lonlat(x, y) for x, y in square]
    features = [_feature("operational_area", "metro area", [*area, area[0]])]
    strip = 2 * half / len(METRO_AGENCIES)
    keep_clear: list[tuple[float, float, float]] = []
    for i in range(zones):
        cx, cy = rng.uniform(-half * 0.9, half * 0.9), rng.uniform(-half * 0.9, half * 0.9)
        radius = rng.uniform(40.0, 150.0)
        ring = [
            frame.to_lonlat(cx + radius * math.cos(a), cy + radius * math.sin(a))
            for a in (2 * math.pi * k / 6 for k in range(6))
        ]
        features.append(_feature("no_fly", f"zone {i}", [*ring, ring[0]], buffer_m=50))
        keep_clear.append((cx, cy, radius + 50.0 + 30.0))
    toml = [
        "[deployment]",
        'name = "Generated metro fusion center"',
        'airspace = "metro-airspace.geojson"',
        "[defaults]",
        "no_fly_buffer_m = 50",
        "on_scene_s = 60",
        # Drones fly on through a server's failover, as through a restart.
        "link_loss_timeout_s = 300",
    ]
    per_agency = -(-len(addresses) // len(METRO_AGENCIES))
    columns = 2
    rows = -(-per_agency // columns)
    stations: dict[str, list[str]] = {a: [] for a in METRO_AGENCIES}
    station_lines: list[str] = []
    for n, address in enumerate(addresses):
        agency_index, k = divmod(n, per_agency)
        agency = METRO_AGENCIES[agency_index]
        x = -half + strip * agency_index + strip * ((k % columns) + 0.5) / columns
        y = -half + 2 * half * ((k // columns) + 0.5) / rows
        while any(math.hypot(x - cx, y - cy) < r for cx, cy, r in keep_clear):
            y += 100.0
        lon, lat = frame.to_lonlat(x, y)
        station_id = f"{agency}-{k + 1}"
        stations[agency].append(station_id)
        station_lines += [
            "[[stations]]",
            f'id = "{station_id}"',
            f'name = "{agency.title()} station {k + 1}"',
            f"lat = {lat:.7f}",
            f"lon = {lon:.7f}",
            "alt_m = 1430",
            "[stations.drone]",
            f'id = "{agency}-d{k + 1}"',
            f'mavlink = "{address}"',
            *([f"video = {json.dumps(video)}"] if video else []),
        ]
    for i, agency in enumerate(METRO_AGENCIES):
        x0, x1 = -half + strip * i, -half + strip * (i + 1)
        corners = ((x0, -half), (x1, -half), (x1, half), (x0, half))
        ring = [frame.to_lonlat(x, y) for x, y in corners]
        polygon = {"type": "Polygon", "coordinates": [[list(p) for p in [*ring, ring[0]]]]}
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{agency}-jurisdiction.geojson").write_text(json.dumps(polygon))
        toml += [
            "[[agencies]]",
            f'id = "{agency}"',
            f'name = "{agency.title()} agency"',
            f'jurisdiction = "{agency}-jurisdiction.geojson"',
            "stations = [" + ", ".join(f'"{s}"' for s in stations[agency]) + "]",
        ]
    for i, owner in enumerate(METRO_AGENCIES):
        toml.append(f"[mutual_aid.{owner}]")
        for j, other in enumerate(METRO_AGENCIES):
            if other != owner:
                rule = "always" if abs(i - j) == 1 else "pilot_confirm"
                toml.append(f'{other} = "{rule}"')
    toml += station_lines
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "metro-airspace.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    path = directory / "metro.toml"
    path.write_text("\n".join(toml) + "\n")
    return path
