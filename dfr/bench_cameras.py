"""`dfr bench cameras`: the covering-camera query over a city's worth of fixed cameras.

Wall-clock percentiles include whatever else the machine runs; the CPU percentiles
(the querying thread's own time) show the query alone.

Writes `--cameras` random cameras over a square city `--size-km` wide to a CSV file,
loads it as a deployment would (parse, validate, index), then times `--queries` random
scenes: the nearest `--per-call` cameras whose view covers each.
"""

from __future__ import annotations

import csv
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from dfr.camera_file import COLUMNS, load_cameras
from missions.geo import GeoPoint, LocalFrame

#: The city's centre (Albuquerque's downtown; any would do).
CENTRE = GeoPoint(35.0844, -106.6504)


def write_city(path: Path, cameras: int, size_km: float, seed: int = 1) -> None:
    """A CSV of `cameras` random cameras over a square `size_km` wide around CENTRE:
    traffic cameras (60-120°), some domes, 50-400 m deep."""
    rng = random.Random(seed)
    frame = LocalFrame(CENTRE)
    half_m = size_km * 500.0
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for i in range(cameras):
            where = frame.to_geo(rng.uniform(-half_m, half_m), rng.uniform(-half_m, half_m))
            writer.writerow(
                (
                    f"cam{i:05d}",
                    f"Camera {i}",
                    f"{where.latitude_deg:.6f}",
                    f"{where.longitude_deg:.6f}",
                    f"{rng.uniform(0, 360):.1f}",
                    rng.choice((60, 90, 90, 120, 360)),
                    f"{rng.uniform(50, 400):.0f}",
                    f"rtsp://cameras.example/{i}",
                )
            )


def run(
    cameras: int = 10_000, queries: int = 2000, size_km: float = 20.0, per_call: int = 4
) -> dict:
    """Build and query times, in milliseconds."""
    frame = LocalFrame(CENTRE)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cameras.csv"
        write_city(path, cameras, size_km)
        t0 = time.perf_counter()
        registry = load_cameras(path, frame)
        build_ms = (time.perf_counter() - t0) * 1000.0
    rng = random.Random(2)
    half_m = size_km * 500.0
    scenes = [
        frame.to_geo(rng.uniform(-half_m, half_m), rng.uniform(-half_m, half_m))
        for _ in range(queries + 50)
    ]
    for scene in scenes[:50]:  # warm up
        registry.covering(scene, per_call)
    times, cpu_times, found = [], [], 0
    for scene in scenes[50:]:
        c0, t0 = time.thread_time(), time.perf_counter()
        sightings = registry.covering(scene, per_call)
        times.append((time.perf_counter() - t0) * 1000.0)
        cpu_times.append((time.thread_time() - c0) * 1000.0)
        found += len(sightings)
    ms, cpu_ms = np.array(times), np.array(cpu_times)
    return {
        "cameras": cameras,
        "queries": queries,
        "size_km": size_km,
        "build_ms": round(build_ms, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
        # The thread's own CPU time: the query without the waits of a busy machine.
        "cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 3),
        "cpu_p99_ms": round(float(np.percentile(cpu_ms, 99)), 3),
        "mean_found": round(found / queries, 2),
    }


def describe(result: dict) -> str:
    r = result
    return (
        f"{r['cameras']} cameras over {r['size_km']:g} x {r['size_km']:g} km: "
        f"load and index {r['build_ms']:.0f} ms; {r['queries']} queries: "
        f"p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  max {r['max_ms']:.3f} ms "
        f"(CPU p50 {r['cpu_p50_ms']:.3f} ms  p99 {r['cpu_p99_ms']:.3f} ms; "
        f"{r['mean_found']} covering cameras per scene)"
    )
