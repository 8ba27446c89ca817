"""The public flight log as files: JSON (everything), CSV (a row per flight, without its
track) and GeoJSON (a feature per flight: its coarse track, with the same fields)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, fields
from typing import Any

from dfr.public_log import MonthFigures, PublicFlight, PublicLogView

#: The columns of the CSV and the properties of each GeoJSON feature, in this order.
FLIGHT_FIELDS = tuple(f.name for f in fields(PublicFlight) if f.name != "track")

#: A spreadsheet reads a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def flight_json(flight: PublicFlight) -> dict[str, Any]:
    data = asdict(flight)
    data["track"] = [list(p) for p in flight.track]
    return data


def month_json(month: MonthFigures) -> dict[str, Any]:
    return {
        "month": month.month,
        "flights": month.flights,
        "median_call_to_scene_s": month.median_call_to_scene_s,
        "by_category": dict(month.by_category),
    }


def log_json(view: PublicLogView) -> dict[str, Any]:
    return {
        **_about(view),
        "months": [month_json(m) for m in view.months],
        "flights": [flight_json(f) for f in view.flights],
    }


def log_geojson(view: PublicLogView) -> dict[str, Any]:
    """A FeatureCollection: one feature per flight, a LineString (a Point when the flight
    never left one grid cell; no geometry without a track)."""
    features = []
    for flight in view.flights:
        props = {name: getattr(flight, name) for name in FLIGHT_FIELDS}
        features.append(
            {
                "type": "Feature",
                "id": flight.flight_id,
                "geometry": _geometry(flight.track),
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", **_about(view), "features": features}


def log_csv(view: PublicLogView) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FLIGHT_FIELDS)
    for flight in view.flights:
        writer.writerow([_cell(getattr(flight, name)) for name in FLIGHT_FIELDS])
    return out.getvalue()


def _about(view: PublicLogView) -> dict[str, Any]:
    return {
        "agency": view.agency,
        "generated_at": view.generated_at,
        "time_zone": view.time_zone,
        "delay_h": view.delay_h,
        "track_grid_m": view.track_grid_m,
        "held_back": view.held_back,
    }


def _geometry(track: tuple[tuple[float, float], ...]) -> dict[str, Any] | None:
    if not track:
        return None
    if len(track) == 1:
        return {"type": "Point", "coordinates": list(track[0])}
    return {"type": "LineString", "coordinates": [list(p) for p in track]}


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text  # shown as text, never run as a formula
    return text
