"""Public tracks: a few dozen points, every one a grid-cell centre, from the full track's
distance and height."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dfr.public_track import MAX_PUBLIC_POINTS, cell_centres, coarse_path, summarise_track
from dfr.store import TrackPoint
from missions.geo import GeoPoint, LocalFrame

FRAME = LocalFrame(GeoPoint(38.2659, -104.6097))
GRID_M = 200.0


def points_from_xy(xy: list[tuple[float, float, float]]) -> list[TrackPoint]:
    out = []
    for i, (x, y, alt) in enumerate(xy):
        lon, lat = FRAME.to_lonlat(x, y)
        point = TrackPoint(1, f"t{i}", float(i), lat, lon, 1430 + alt, alt, None, None, "M",
                           None, None, None)  # fmt: skip
        out.append(point)
    return out


def on_grid(lon: float, lat: float, grid_m: float = GRID_M) -> bool:
    """True when the point is a cell centre (to the metre the 5 decimals keep)."""
    x, y = FRAME.lonlat_to_xy(lon, lat)
    cx, cy = cell_centres(np.array([[x, y]]), grid_m)[0]
    return math.hypot(x - cx, y - cy) < 1.5


def test_a_winding_flight_is_thinned_to_cell_centres() -> None:
    # 10 minutes: out 3 km along a zigzag, an orbit of 50 m over the scene, back.
    out = [(i * 5.0, 300.0 * math.sin(i / 40), min(60.0, i * 2.0)) for i in range(600)]
    orbit = [
        (3000 + 50 * math.cos(a / 10), 50 * math.sin(a / 10) + out[-1][1], 80.0) for a in range(300)
    ]
    xy = out + orbit + list(reversed(out))
    summary = summarise_track(points_from_xy(xy), FRAME, GRID_M)
    assert 3 <= len(summary.path_lonlat) <= MAX_PUBLIC_POINTS
    assert all(on_grid(lon, lat) for lon, lat in summary.path_lonlat)
    assert summary.max_height_m == 80.0
    # The full track's length, sample to sample: zigzags and orbits count.
    flown_m = float(np.hypot(*np.diff(np.array(xy)[:, :2], axis=0).T).sum())
    assert math.isclose(summary.distance_flown_m, flown_m, rel_tol=1e-3)
    assert flown_m > 2 * 3000 + 4 * 2 * math.pi * 50
    # The orbit over the scene is one or two cells: no point of it is published as flown.
    scene = FRAME.lonlat_to_xy(*FRAME.to_lonlat(3000, out[-1][1]))
    nearest_m = min(
        math.dist(scene, FRAME.lonlat_to_xy(lon, lat)) for lon, lat in summary.path_lonlat
    )
    assert nearest_m >= 1.0


def test_a_flight_that_never_left_its_cell_is_one_point() -> None:
    summary = summarise_track(points_from_xy([(5.0, 5.0, 0.0), (20.0, 30.0, 12.0)]), FRAME, GRID_M)
    assert len(summary.path_lonlat) == 1
    assert on_grid(*summary.path_lonlat[0])
    assert summary.max_height_m == 12.0


def test_no_track_no_path() -> None:
    summary = summarise_track([], FRAME, GRID_M)
    assert (summary.distance_flown_m, summary.max_height_m, summary.path_lonlat) == (0.0, None, ())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-5000, 5000), st.floats(-5000, 5000)), min_size=1, max_size=400),
    st.sampled_from([50.0, 200.0, 500.0]),
    st.integers(2, 60),
)
def test_any_track_gives_at_most_max_points_all_on_the_grid(xy, grid_m, max_points) -> None:
    path = coarse_path(np.array(xy), grid_m, max_points)
    assert 1 <= len(path) <= max_points
    assert np.allclose(cell_centres(path, grid_m), path)
    first, last = cell_centres(np.array([xy[0], xy[-1]]), grid_m)
    assert np.allclose(path[0], first)  # it starts and ends where the flight did
    assert np.allclose(path[-1], last)
