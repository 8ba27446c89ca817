"""Fixtures for the core tests: the built-in deployment and small airspaces made on the fly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dfr.deployment import Deployment, builtin_deployment_path, load_deployment
from missions.geo import GeoPoint, LocalFrame

ORIGIN = GeoPoint(38.2659, -104.6097)
FRAME = LocalFrame(ORIGIN)


@pytest.fixture(scope="session")
def pueblo() -> Deployment:
    return load_deployment()


def lonlat_ring(xy: list[tuple[float, float]]) -> list[list[float]]:
    """A closed GeoJSON ring from local (x, y) metres around ORIGIN."""
    ring = [list(FRAME.to_lonlat(x, y)) for x, y in xy]
    return [*ring, ring[0]]


def feature(kind: str, name: str, geometry: dict, **props: object) -> dict:
    return {
        "type": "Feature",
        "properties": {"kind": kind, "name": name, **props},
        "geometry": geometry,
    }


def polygon(xy: list[tuple[float, float]]) -> dict:
    return {"type": "Polygon", "coordinates": [lonlat_ring(xy)]}


def square(cx: float, cy: float, half: float) -> list[tuple[float, float]]:
    return [
        (cx - half, cy - half),
        (cx + half, cy - half),
        (cx + half, cy + half),
        (cx - half, cy + half),
    ]


def write_deployment(
    tmp: Path, features: list[dict], stations_toml: str | None = None, extra: str = ""
) -> Path:
    """Write a deployment with the given airspace features; one station at ORIGIN by default."""
    (tmp / "air.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    stations_toml = (
        stations_toml
        or f"""
[[stations]]
id = "hq"
name = "HQ"
lat = {ORIGIN.latitude_deg}
lon = {ORIGIN.longitude_deg}
alt_m = 1430
[stations.drone]
id = "d1"
mavlink = "udpin://127.0.0.1:14540"
"""
    )
    path = tmp / "dep.toml"
    path.write_text(f"""
[deployment]
name = "Test"
airspace = "air.geojson"
{extra}
{stations_toml}
""")
    return path


@pytest.fixture
def builtin_files(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the built-in TOML and GeoJSON to edit."""
    src = builtin_deployment_path()
    toml = tmp_path / "pueblo.toml"
    toml.write_text(src.read_text())
    air = tmp_path / "pueblo-airspace.geojson"
    air.write_text((src.parent / "pueblo-airspace.geojson").read_text())
    return toml, air
