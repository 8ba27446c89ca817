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
