"""QGroundControl `.plan` files: a sortie's mission, fence and rally point as QGC opens
them, and a plan's fence read back as airspace features.

The format, as QGC reads it: JSON with `fileType: "Plan"` and `version: 1`; the
mission's `SimpleItem`s carry `command`, `frame`, `autoContinue` and `params`
(seven values: param1..4, latitude, longitude, altitude; NaN written as null);
positions are [latitude, longitude]; fence polygons and circles say `inclusion`
(true: keep in) and are version 1 (the only version QGC's polygon loader takes);
rally points are [latitude, longitude, altitude]. MAVLink's *_INT frames are
written as their float counterparts, as QGC does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from missions.mission_plan import (
    DEG_E7,
    FRAME_GLOBAL,
    FRAME_GLOBAL_INT,
    FRAME_GLOBAL_RELATIVE_ALT,
    FRAME_GLOBAL_RELATIVE_ALT_INT,
    MavCmd,
    MissionItem,
)

PX4_FIRMWARE = 12  # MAV_AUTOPILOT_PX4
MULTIROTOR = 2  # MAV_TYPE_QUADROTOR
_FLOAT_FRAME = {
    FRAME_GLOBAL_INT: FRAME_GLOBAL,
    FRAME_GLOBAL_RELATIVE_ALT_INT: FRAME_GLOBAL_RELATIVE_ALT,
}
_POSITIONED = {FRAME_GLOBAL, FRAME_GLOBAL_RELATIVE_ALT, *_FLOAT_FRAME}


class PlanError(ValueError):
    """A file that is not a QGC plan, or a fence it cannot describe."""


def export_plan(
    mission: Sequence[MissionItem],
    fence: Sequence[MissionItem],
    home: tuple[float, float, float],
    cruise_speed_m_s: float,
    hover_speed_m_s: float = 5.0,
) -> dict[str, Any]:
    """The plan QGC opens for these items; `home` (lat, lon, metres AMSL) is the station,
    also the rally point the drone returns to."""
    return {
        "fileType": "Plan",
        "version": 1,
        "groundStation": "dfr",
        "mission": {
            "version": 2,
            "firmwareType": PX4_FIRMWARE,
            "vehicleType": MULTIROTOR,
            "cruiseSpeed": cruise_speed_m_s,
            "hoverSpeed": hover_speed_m_s,
            "plannedHomePosition": list(home),
            "items": [_simple_item(item) for item in mission],
        },
        "geoFence": {"version": 2, **_fence_shapes(fence)},
        "rallyPoints": {"version": 2, "points": [list(home)]},
    }


def plan_items(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The mission's items as (command, frame, params) dicts, for comparison."""
    return [
        {"command": i["command"], "frame": i["frame"], "params": i["params"]}
        for i in plan["mission"]["items"]
    ]


def fence_features(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """A plan's fence as dfr airspace features: an inclusion polygon is the operational
    area, exclusions are no-fly zones (polygons, or points with `radius_m`). Raises
    PlanError for a file that is not a plan or a fence dfr cannot use."""
    if not isinstance(plan, dict) or plan.get("fileType") != "Plan":
        raise PlanError("not a QGroundControl plan (fileType is not 'Plan')")
    fence = plan.get("geoFence") or {}
    features = []
    for n, shape in enumerate(fence.get("polygons", []), 1):
        ring = [[float(lon), float(lat)] for lat, lon in shape["polygon"]]
        if len(ring) < 3:
            raise PlanError(f"fence polygon {n} has fewer than 3 vertices")
        kind = "operational_area" if shape.get("inclusion", True) else "no_fly"
        features.append(_feature({"type": "Polygon", "coordinates": [[*ring, ring[0]]]}, kind, n))
    for n, shape in enumerate(fence.get("circles", []), 1):
        lat, lon = shape["circle"]["center"]
        radius = float(shape["circle"]["radius"])
        if shape.get("inclusion", False):
            raise PlanError(f"fence circle {n} is an inclusion: dfr's area must be a polygon")
        point = {"type": "Point", "coordinates": [float(lon), float(lat)]}
        features.append(_feature(point, "no_fly", n, radius_m=radius))
    return features


def _simple_item(item: MissionItem) -> dict[str, Any]:
    positioned = item.frame in _POSITIONED
    lat = item.x / DEG_E7 if positioned else float(item.x)
    lon = item.y / DEG_E7 if positioned else float(item.y)
    params = [item.param1, item.param2, item.param3, item.param4, lat, lon, item.z]
    return {
        "type": "SimpleItem",
        "command": int(item.command),
        "frame": _FLOAT_FRAME.get(item.frame, item.frame),
        "autoContinue": bool(item.autocontinue),
        "doJumpId": item.seq + 1,
        "params": [None if math.isnan(p) else p for p in params],
    }


def _fence_shapes(items: Sequence[MissionItem]) -> dict[str, list[dict[str, Any]]]:
    polygons: list[dict[str, Any]] = []
    circles: list[dict[str, Any]] = []
    i = 0
    while i < len(items):
        item = items[i]
        if item.command in (
            MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        ):
            count = int(item.param1)
            vertices = items[i : i + count]
            polygons.append(
                {
                    "version": 1,
                    "inclusion": item.command == MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                    "polygon": [[v.x / DEG_E7, v.y / DEG_E7] for v in vertices],
                }
            )
            i += max(count, 1)
            continue
        if item.command in (MavCmd.NAV_FENCE_CIRCLE_INCLUSION, MavCmd.NAV_FENCE_CIRCLE_EXCLUSION):
            circles.append(
                {
                    "version": 1,
                    "inclusion": item.command == MavCmd.NAV_FENCE_CIRCLE_INCLUSION,
                    "circle": {"center": [item.x / DEG_E7, item.y / DEG_E7], "radius": item.param1},
                }
            )
        i += 1
    return {"polygons": polygons, "circles": circles}


def _feature(geometry: dict[str, Any], kind: str, n: int, **extra: float) -> dict[str, Any]:
    name = f"plan {'area' if kind == 'operational_area' else 'zone'} {n}"
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"kind": kind, "name": name, **extra},
    }
