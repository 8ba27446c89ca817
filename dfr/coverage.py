"""Coverage: where each station's drone is on scene within 60 s and 90 s, and a map of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from dfr.deployment import Deployment
from dfr.eta import EtaParameters, estimate
from missions.profile import Station

THRESHOLDS_S = (60.0, 90.0)


@dataclass(frozen=True)
class StationCoverage:
    station_id: str
    area_km2: dict[float, float]  # threshold seconds → km² reachable within it


@dataclass(frozen=True)
class Coverage:
    cell_m: float
    operational_area_km2: float
    stations: tuple[StationCoverage, ...]
    share_covered: dict[float, float]  # threshold → share of the operational area (0..1)
    grid_x_m: np.ndarray
    grid_y_m: np.ndarray
    eta_s: np.ndarray  # [station, y, x]; inf where unreachable

    def as_json(self) -> dict:
        return {
            "cell_m": self.cell_m,
            "operational_area_km2": round(self.operational_area_km2, 3),
            "stations": [
                {
                    "station_id": s.station_id,
                    **{f"within_{t:.0f}s_km2": round(a, 3) for t, a in s.area_km2.items()},
                }
                for s in self.stations
            ],
            "share_covered": {
                f"within_{t:.0f}s": round(v, 4) for t, v in self.share_covered.items()
            },
        }


def compute_coverage(
    deployment: Deployment, cell_m: float = 100.0, params: EtaParameters | None = None
) -> Coverage:
    """ETA from every station to the centre of every grid cell inside the operational area."""
    params = params or deployment.eta
    area = deployment.airspace.operational_area
    minx, miny, maxx, maxy = area.bounds
    xs = np.arange(minx + cell_m / 2, maxx, cell_m)
    ys = np.arange(miny + cell_m / 2, maxy, cell_m)
    gx, gy = np.meshgrid(xs, ys)
    inside = shapely.contains_xy(area, gx, gy)
    eta = np.full((len(deployment.stations), *gx.shape), np.inf)
    for k, station in enumerate(deployment.stations):
        eta[k] = _station_eta(deployment, station, gx, gy, inside, params)

    cell_km2 = (cell_m / 1000.0) ** 2
    area_km2 = float(area.area) / 1e6
    stations = tuple(
        StationCoverage(
            s.id, {t: float(np.count_nonzero(eta[k] <= t)) * cell_km2 for t in THRESHOLDS_S}
        )
        for k, s in enumerate(deployment.stations)
    )
    best = eta.min(axis=0) if len(deployment.stations) else np.full(gx.shape, np.inf)
    n_inside = max(int(np.count_nonzero(inside)), 1)
    share = {t: float(np.count_nonzero(best <= t)) / n_inside for t in THRESHOLDS_S}
    return Coverage(cell_m, area_km2, stations, share, xs, ys, eta)


def _station_eta(
    deployment: Deployment,
    station: Station,
    gx: np.ndarray,
    gy: np.ndarray,
    inside: np.ndarray,
    params: EtaParameters,
) -> np.ndarray:
    frame = deployment.airspace.frame
    sx, sy = frame.to_xy(station.position)
    drone = station.drone
    # No route beats a straight line at full speed: skip cells that cannot make the last threshold.
    reach_m = drone.cruise_speed_m_s * max(THRESHOLDS_S) + 50.0
    near = inside & (np.hypot(gx - sx, gy - sy) <= reach_m)
    out = np.full(gx.shape, np.inf)
    for iy, ix in zip(*np.nonzero(near), strict=True):
        scene = frame.to_geo(float(gx[iy, ix]), float(gy[iy, ix]))
        plan = deployment.planner.plan(station.position, scene)
        if plan.route is not None and not plan.route.standoff:
            out[iy, ix] = estimate(plan.route, drone, params).total_s
    return out


def write_map(deployment: Deployment, coverage: Coverage, path: Path) -> None:
    """A PNG of the airspace, the stations and their 60/90 s isochrones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    frame = deployment.airspace.frame
    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    best = coverage.eta_s.min(axis=0)
    bands = np.where(best <= 60, 2, np.where(best <= 90, 1, np.nan))
    extent = (
        coverage.grid_x_m[0] - coverage.cell_m / 2,
        coverage.grid_x_m[-1] + coverage.cell_m / 2,
        coverage.grid_y_m[0] - coverage.cell_m / 2,
        coverage.grid_y_m[-1] + coverage.cell_m / 2,
    )
    ax.imshow(
        bands,
        origin="lower",
        extent=extent,
        cmap=ListedColormap(["#9ecae1", "#3182bd"]),
        vmin=1,
        vmax=2,
        alpha=0.75,
        interpolation="nearest",
    )
    for k in range(len(deployment.stations)):
        ax.contour(
            coverage.grid_x_m,
            coverage.grid_y_m,
            coverage.eta_s[k],
            levels=list(THRESHOLDS_S),
            colors=["#08306b", "#4292c6"],
            linewidths=0.8,
        )

    def draw(shape: object, **style: Any) -> None:
        for poly in getattr(shape, "geoms", [shape]):
            x, y = poly.exterior.xy
            ax.fill(x, y, **style)

    draw(deployment.airspace.operational_area, fill=False, edgecolor="black", linewidth=1.5)
    for zone in deployment.airspace.no_fly:
        draw(zone.keep_out_local(), facecolor="#fcbba1", edgecolor="none", alpha=0.6)
        draw(zone.shape_local, facecolor="#cb181d", edgecolor="#67000d", alpha=0.8)
    for zone in deployment.airspace.ceilings:
        draw(zone.shape_local, facecolor="#fdae6b", edgecolor="#a63603", alpha=0.6)
    for station in deployment.stations:
        x, y = frame.to_xy(station.position)
        ax.plot(x, y, marker="^", color="black", markersize=10)
        ax.annotate(station.name, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    share = coverage.share_covered
    ax.set_title(
        f"{deployment.name}: on scene within 60 s (dark) {share[60.0]:.0%}, "
        f"within 90 s (light) {share[90.0]:.0%} of the operational area",
        fontsize=9,
    )
    ax.set_xlabel("metres east of the first station")
    ax.set_ylabel("metres north")
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
