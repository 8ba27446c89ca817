"""A sortie's track as the public flight log shows it, and the figures drawn from it.

The stored track has a sample a second, metre-exact: hovering over a scene it names
the address. The public one is coarsened before it is simplified:

1. every sample is moved to the centre of its cell in a square grid `grid_m` wide,
   fixed in the deployment's local frame (x east, y north, metres from the first
   station), and repeats are dropped: the path runs from cell centre to cell centre;
2. Douglas–Peucker (shapely) thins that path to at most `max_points` vertices, with
   a tolerance that grows from half a cell until it fits. It keeps a subset of the
   vertices, so every published point is still a cell centre.

A fixed grid, not random noise: noise averages out over the flights sent to the same
address, a grid cell never gets finer. Distance flown and the highest point are taken
from the full track before any of this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from dfr.store import TrackPoint
from missions.geo import LocalFrame

#: At most this many points in a published track ("a few dozen").
MAX_PUBLIC_POINTS = 40
#: Published coordinates carry 5 decimals (about a metre): finer than the grid needs,
#: so each point is the cell centre, not a rounding of it.
COORDINATE_DECIMALS = 5


@dataclass(frozen=True, slots=True)
class TrackSummary:
    """What the public log takes from one sortie's track."""

    distance_flown_m: float  # along the ground, sample to sample
    max_height_m: float | None  # above the station's ground (the take-off point)
    path_lonlat: tuple[tuple[float, float], ...]  # coarse: cell centres, (lon, lat)


def summarise_track(
    points: Sequence[TrackPoint],
    frame: LocalFrame,
    grid_m: float,
    max_points: int = MAX_PUBLIC_POINTS,
) -> TrackSummary:
    """The distance, the highest point and the coarse path of a track (see the module)."""
    if not points:
        return TrackSummary(0.0, None, ())
    lonlat = np.array([(p.longitude_deg, p.latitude_deg) for p in points], dtype=float)
    xy = frame.lonlat_array_to_xy(lonlat)
    distance_m = float(np.hypot(*np.diff(xy, axis=0).T).sum()) if len(xy) > 1 else 0.0
    max_height_m = max(p.alt_above_station_m for p in points)
    path = frame.xy_array_to_lonlat(coarse_path(xy, grid_m, max_points))
    rounded = tuple(
        (round(float(lon), COORDINATE_DECIMALS), round(float(lat), COORDINATE_DECIMALS))
        for lon, lat in path
    )
    return TrackSummary(distance_m, max_height_m, rounded)


def cell_centres(xy: np.ndarray, grid_m: float) -> np.ndarray:
    """Each (x, y) moved to the centre of its `grid_m` cell.

    >>> cell_centres(np.array([[10.0, -10.0], [250.0, 399.0]]), 200.0).tolist()
    [[100.0, -100.0], [300.0, 300.0]]
    """
    return (np.floor(xy / grid_m) + 0.5) * grid_m


def coarse_path(xy: np.ndarray, grid_m: float, max_points: int) -> np.ndarray:
    """The path through the cells `xy` visits, thinned to at most `max_points` vertices
    (all of them cell centres). An (n, 2) array; one row when it never left a cell."""
    cells = cell_centres(xy, grid_m)
    changed = np.any(cells[1:] != cells[:-1], axis=1)
    path = cells[np.concatenate(([True], changed))]
    if len(path) < 3:
        return path
    line = shapely.LineString(path)
    tolerance_m = 0.0  # at first, only drop points in line with their neighbours
    while True:
        thinned = np.asarray(line.simplify(tolerance_m, preserve_topology=False).coords)
        if len(thinned) <= max(max_points, 2):
            return thinned
        tolerance_m = max(tolerance_m * 2, grid_m / 2)
