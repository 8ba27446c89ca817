"""The airspace a deployment may fly in, parsed from GeoJSON and projected to metres.

A feature's ``properties.kind`` says what it is:

- ``operational_area``: Polygon/MultiPolygon the agency is authorised to fly in;
  optional ``buffer_m`` keeps routes that far inside its edge.
- ``no_fly``: Polygon/MultiPolygon, or Point with ``radius_m``; optional
  ``buffer_m`` (default: the airspace default) is kept clear around it.
- ``ceiling``: Polygon/MultiPolygon with ``ceiling_m`` above ground: fly under
  it when that still leaves the minimum safe altitude, around it otherwise.
- ``area``: a named Polygon/MultiPolygon with no flight rule of its own (a patrol
  district, a beat): what a deployment's launch policies name as their zone.

Errors::

    AirspaceError            (ValueError) a file that cannot be an airspace;
                             its message names the file, the feature and the field
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.validation import explain_validity

from missions.geo import CoordinateError, GeoPoint, LocalFrame, check_coordinates

KINDS = ("operational_area", "no_fly", "ceiling", "area")
KNOWN_PROPERTIES = {"kind", "name", "buffer_m", "radius_m", "ceiling_m", "id", "notes"}
DEFAULT_NO_FLY_BUFFER_M = 100.0
CIRCLE_SIDES = 16


class AirspaceError(ValueError):
    """An airspace file or feature that cannot be used."""


@dataclass(frozen=True)
class Zone:
    """One no-fly, ceiling or named area zone, in lon/lat (as read) and in the local frame."""

    index: int
    name: str
    kind: str
    shape_geo: Polygon | MultiPolygon | Point
    shape_local: Polygon | MultiPolygon
    buffer_m: float
    radius_m: float | None = None
    ceiling_m: float | None = None

    def keep_out_local(self) -> Polygon | MultiPolygon:
        """The zone grown by its buffer, with straight (mitred) corners.

        A mitred buffer contains the round one, so a route outside it keeps at
        least `buffer_m` from the zone, and it has no more vertices than the zone.
        """
        if self.buffer_m <= 0:
            return self.shape_local
        return self.shape_local.buffer(self.buffer_m, join_style="mitre", mitre_limit=2.0)

    def flown_under_m(self, clearance_m: float) -> float:
        """The highest altitude (m above ground) to fly inside the zone: its ceiling less
        `clearance_m`, and no limit for a zone without a ceiling."""
        return math.inf if self.ceiling_m is None else self.ceiling_m - clearance_m


@dataclass(frozen=True)
class Airspace:
    """A deployment's airspace in the local frame (x east, y north, metres)."""

    frame: LocalFrame
    operational_area: Polygon | MultiPolygon
    operational_area_geo: Polygon | MultiPolygon
    boundary_margin_m: float
    no_fly: tuple[Zone, ...]
    ceilings: tuple[Zone, ...]
    geojson: Mapping[str, Any]
    #: Named areas without a flight rule (kind ``area``), for launch policies.
    areas: tuple[Zone, ...] = ()

    def contains(self, point: GeoPoint) -> bool:
        """True when the point lies inside the operational area."""
        return bool(self.operational_area.covers(Point(self.frame.to_xy(point))))

    def no_fly_zone_at(self, point: GeoPoint) -> Zone | None:
        """The first no-fly zone (unbuffered) that contains the point."""
        p = Point(self.frame.to_xy(point))
        return next((z for z in self.no_fly if z.shape_local.covers(p)), None)

    def zones_named(self, name: str) -> list[Zone]:
        """Every area, no-fly and ceiling zone called `name` (exactly)."""
        return [z for z in (*self.areas, *self.no_fly, *self.ceilings) if z.name == name]


def load_airspace(path: Path, frame: LocalFrame | None = None) -> Airspace:
    """Read and validate a GeoJSON airspace file; raises AirspaceError."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise AirspaceError(f"{path}: cannot read airspace file: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise AirspaceError(f"{path}: not valid JSON: {exc}") from exc
    return parse_airspace(data, source=str(path), frame=frame)


def parse_airspace(
    data: Any,
    source: str = "<airspace>",
    frame: LocalFrame | None = None,
    default_buffer_m: float = DEFAULT_NO_FLY_BUFFER_M,
) -> Airspace:
    """Validate a GeoJSON FeatureCollection and project it; raises AirspaceError.

    With no `frame`, one is centred on the operational area.
    """
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        raise AirspaceError(f"{source}: expected a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, Sequence) or isinstance(features, str):
        raise AirspaceError(f"{source}: 'features' must be a list")

    parsed = [_read_feature(source, i, f, default_buffer_m) for i, f in enumerate(features)]
    areas = [p for p in parsed if p["kind"] == "operational_area"]
    if not areas:
        raise AirspaceError(f"{source}: no feature with kind 'operational_area'")
    area_geo = shapely.union_all([p["geometry"] for p in areas])
    if frame is None:
        c = area_geo.centroid
        frame = LocalFrame(GeoPoint(c.y, c.x))

    area_local = _project(frame, area_geo)
    margin_m = max(p["buffer_m"] for p in areas)
    if margin_m > 0:
        area_local = area_local.buffer(-margin_m, join_style="mitre")
        if area_local.is_empty:
            raise AirspaceError(f"{source}: operational area vanishes inside buffer_m={margin_m}")
    shapely.prepare(area_local)

    zones: dict[str, list[Zone]] = {"no_fly": [], "ceiling": [], "area": []}
    for p in parsed:
        if p["kind"] != "operational_area":
            zones[p["kind"]].append(_zone(frame, p))
    return Airspace(
        frame=frame,
        operational_area=area_local,
        operational_area_geo=area_geo,
        boundary_margin_m=margin_m,
        no_fly=tuple(zones["no_fly"]),
        ceilings=tuple(zones["ceiling"]),
        geojson=data,
        areas=tuple(zones["area"]),
    )


def _read_feature(source: str, index: int, feature: Any, default_buffer_m: float) -> dict:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise AirspaceError(f"{source}: feature #{index}: expected a GeoJSON Feature")
    props = feature.get("properties") or {}
    if not isinstance(props, Mapping):
        raise AirspaceError(f"{source}: feature #{index}: 'properties' must be an object")
    name = str(props.get("name") or f"#{index}")
    where = f"{source}: feature {name!r} (#{index})"
    unknown = sorted(set(props) - KNOWN_PROPERTIES)
    if unknown:
        raise AirspaceError(f"{where}: unknown property {unknown[0]!r}")
    kind = props.get("kind")
    if kind not in KINDS:
        raise AirspaceError(
            f"{where}: field 'kind' must be one of {', '.join(KINDS)}, got {kind!r}"
        )

    buffer_m = _number(where, props, "buffer_m", default_buffer_m if kind == "no_fly" else 0.0)
    if buffer_m < 0:
        raise AirspaceError(f"{where}: field 'buffer_m' must be >= 0, got {buffer_m:g}")

    raw = feature.get("geometry")
    if not isinstance(raw, Mapping):
        raise AirspaceError(f"{where}: field 'geometry' is missing")
    _check_positions(where, raw.get("coordinates"))
    try:
        geometry = shape(raw)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException) as exc:
        raise AirspaceError(f"{where}: field 'geometry' is not valid GeoJSON: {exc}") from exc

    out: dict[str, Any] = {"index": index, "name": name, "kind": kind, "buffer_m": buffer_m}
    if isinstance(geometry, Point):
        if kind != "no_fly":
            raise AirspaceError(f"{where}: field 'geometry': a {kind} must be a Polygon")
        radius_m = _number(where, props, "radius_m", None)
        if radius_m is None or radius_m <= 0:
            raise AirspaceError(f"{where}: field 'radius_m' must be > 0 for a Point no-fly zone")
        out["radius_m"] = radius_m
    elif isinstance(geometry, Polygon | MultiPolygon):
        if geometry.is_empty:
            raise AirspaceError(f"{where}: field 'geometry' is empty")
        if not geometry.is_valid:
            raise AirspaceError(
                f"{where}: field 'geometry' is not a valid polygon ({explain_validity(geometry)})"
            )
    else:
        raise AirspaceError(
            f"{where}: field 'geometry' must be a Polygon or MultiPolygon, got {geometry.geom_type}"
        )
    if kind == "ceiling":
        ceiling_m = _number(where, props, "ceiling_m", None)
        if ceiling_m is None or ceiling_m <= 0:
            raise AirspaceError(f"{where}: field 'ceiling_m' must be > 0 for a ceiling zone")
        out["ceiling_m"] = ceiling_m
    out["geometry"] = geometry
    return out


@overload
def _number(where: str, props: Mapping, key: str, default: float) -> float: ...
@overload
def _number(where: str, props: Mapping, key: str, default: None) -> float | None: ...
def _number(where: str, props: Mapping, key: str, default: float | None) -> float | None:
    value = props.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AirspaceError(f"{where}: field {key!r} must be a number, got {value!r}")
    return float(value)


def _check_positions(where: str, coords: Any) -> None:
    """Walk nested GeoJSON coordinates and reject impossible positions."""
    if not isinstance(coords, Sequence) or isinstance(coords, str):
        raise AirspaceError(f"{where}: field 'geometry.coordinates' is missing or not a list")
    if coords and not isinstance(coords[0], Sequence):
        if len(coords) < 2:
            raise AirspaceError(f"{where}: field 'geometry.coordinates': position {coords!r}")
        try:
            check_coordinates(coords[1], coords[0])
        except CoordinateError as exc:
            raise AirspaceError(f"{where}: field 'geometry.coordinates': {exc}") from exc
        return
    for c in coords:
        _check_positions(where, c)


def _project(frame: LocalFrame, geometry: Any) -> Any:
    return shapely.transform(geometry, frame.lonlat_array_to_xy)


def _zone(frame: LocalFrame, p: Mapping[str, Any]) -> Zone:
    geometry = p["geometry"]
    if isinstance(geometry, Point):
        # A regular polygon circumscribing the circle, so the polygon covers it.
        center = Point(frame.lonlat_to_xy(geometry.x, geometry.y))
        radius = p["radius_m"] / math.cos(math.pi / CIRCLE_SIDES)
        local = center.buffer(radius, quad_segs=CIRCLE_SIDES // 4)
    else:
        local = _project(frame, geometry)
    return Zone(
        index=p["index"],
        name=p["name"],
        kind=p["kind"],
        shape_geo=geometry,
        shape_local=local,
        buffer_m=p["buffer_m"],
        radius_m=p.get("radius_m"),
        ceiling_m=p.get("ceiling_m"),
    )
