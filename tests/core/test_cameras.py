"""Fixed cameras: the view wedge, and the indexed query against a brute-force scan."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from missions.cameras import CameraError, CameraRegistry, FixedCamera, in_view
from missions.geo import GeoPoint, LocalFrame

CENTRE = GeoPoint(38.2544, -104.6091)
FRAME = LocalFrame(CENTRE)


def camera(i: int, x_m: float, y_m: float, heading: float, fov: float, range_m: float):
    return FixedCamera(
        id=f"c{i}",
        name=f"Camera {i}",
        position=FRAME.to_geo(x_m, y_m),
        heading_deg=heading,
        fov_deg=fov,
        range_m=range_m,
        source=f"rtsp://cameras.example/{i}",
    )


def test_wedge_edges_and_wrap_around_north():
    assert in_view(0, 90, 45)
    assert in_view(0, 90, 315)
    assert not in_view(0, 90, 45.01)
    assert in_view(350, 40, 9.9)
    assert not in_view(350, 40, 11)
    assert in_view(123, 360, 303)  # a dome sees every way
    assert in_view(180, 1, 180)


def test_camera_looking_east_sees_east_not_west():
    cam = camera(1, 0, 0, heading=90, fov=60, range_m=200)
    assert cam.sees(FRAME.to_geo(150, 10))
    assert not cam.sees(FRAME.to_geo(-150, 0))
    assert not cam.sees(FRAME.to_geo(250, 0))  # too far


@pytest.mark.parametrize(("fov", "range_m"), [(0, 100), (361, 100), (90, 0), (90, math.nan)])
def test_impossible_cameras_are_refused(fov, range_m):
    with pytest.raises(CameraError):
        camera(1, 0, 0, heading=0, fov=fov, range_m=range_m)


def test_duplicate_ids_are_refused():
    with pytest.raises(CameraError, match="unique"):
        CameraRegistry([camera(1, 0, 0, 0, 90, 100), camera(1, 10, 0, 0, 90, 100)], FRAME)


def test_covering_is_nearest_first_and_limited():
    cams = [camera(i, -20.0 * (i + 1), 0, heading=90, fov=30, range_m=500) for i in range(6)]
    cams.append(camera(99, -5, 0, heading=270, fov=30, range_m=500))  # looks away
    registry = CameraRegistry(cams, FRAME)
    found = registry.covering(CENTRE, limit=4)
    assert [s.camera.id for s in found] == ["c0", "c1", "c2", "c3"]
    assert found[0].distance_m == pytest.approx(20, abs=0.1)
    assert found[0].bearing_deg == pytest.approx(90, abs=0.1)
    assert CameraRegistry([], FRAME).covering(CENTRE) == []


def test_nearest_ignores_the_view():
    registry = CameraRegistry([camera(1, 0, 50, 0, 10, 100), camera(2, 0, 900, 0, 10, 100)], FRAME)
    assert [s.camera.id for s in registry.nearest(CENTRE, within_m=500)] == ["c1"]
    assert [s.camera.id for s in registry.nearest(CENTRE, within_m=1000)] == ["c1", "c2"]


coordinate = st.floats(-3000, 3000)
cameras_strategy = st.lists(
    st.tuples(
        coordinate,
        coordinate,
        st.floats(0, 359.9),
        st.sampled_from([1.0, 30.0, 90.0, 179.0, 180.0, 270.0, 360.0]) | st.floats(0.5, 360),
        st.floats(1, 2000),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(cameras_strategy, coordinate, coordinate, st.integers(1, 8))
def test_query_matches_a_brute_force_scan(specs, x_m, y_m, limit):
    cams = [camera(i, *spec) for i, spec in enumerate(specs)]
    registry = CameraRegistry(cams, FRAME)
    scene = FRAME.to_geo(x_m, y_m)
    expected = sorted(
        (c.position.distance_m(scene), c.id)
        for c in cams
        if c.position.distance_m(scene) <= c.range_m
        and in_view(c.heading_deg, c.fov_deg, c.position.bearing_deg(scene))
    )[:limit]
    found = registry.covering(scene, limit)
    assert [s.camera.id for s in found] == [cid for _, cid in expected]
    for sighting, (distance_m, _) in zip(found, expected, strict=True):
        assert sighting.distance_m == pytest.approx(distance_m, abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(cameras_strategy, coordinate, coordinate)
def test_a_registry_centred_elsewhere_finds_the_same(specs, x_m, y_m):
    cams = [camera(i, *spec) for i, spec in enumerate(specs)]
    scene = FRAME.to_geo(x_m, y_m)
    far_frame = LocalFrame(GeoPoint(38.5, -104.0))  # some 60 km away
    ours = CameraRegistry(cams, FRAME).covering(scene, 10)
    theirs = CameraRegistry(cams, far_frame).covering(scene, 10)
    assert [s.camera.id for s in ours] == [s.camera.id for s in theirs]
