"""`dfr bench recommend`: latency of ranking every station for a call, on Pueblo and large."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

from dfr.deployment import Deployment, load_deployment
from dfr.recommend import recommend
from dfr.synthetic import write_large_deployment
from missions.geo import GeoPoint


def random_scenes(deployment: Deployment, n: int, seed: int = 1) -> list[GeoPoint]:
    """`n` uniformly random points inside the operational area."""
    rng = random.Random(seed)
    area = deployment.airspace.operational_area
    minx, miny, maxx, maxy = area.bounds
    out: list[GeoPoint] = []
    while len(out) < n:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(area, x, y):
            out.append(deployment.airspace.frame.to_geo(x, y))
    return out


def measure(deployment: Deployment, calls: int, warmup: int = 20) -> dict:
    scenes = random_scenes(deployment, calls + warmup)
    for scene in scenes[:warmup]:
        recommend(deployment, scene)
    times = []
    candidates = 0
    for scene in scenes[warmup:]:
        t0 = time.perf_counter()
        rec = recommend(deployment, scene)
        times.append((time.perf_counter() - t0) * 1000.0)
        candidates += len(rec.candidates)
    ms = np.array(times)
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
        "calls": calls,
        "stations": len(deployment.stations),
        "zones": len(deployment.airspace.no_fly) + len(deployment.airspace.ceilings),
        "mean_candidates": round(candidates / calls, 2),
    }


def run(calls: int = 1000, large_calls: int = 300) -> dict:
    result = {"pueblo": measure(load_deployment(), calls)}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        large = load_deployment(write_large_deployment(Path(tmp)))
        load_s = time.perf_counter() - t0
    result["large"] = measure(large, large_calls)
    result["large"]["load_s"] = round(load_s, 2)
    return result
