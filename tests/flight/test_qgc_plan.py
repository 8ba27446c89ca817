"""QGroundControl .plan files: a mission and fence exported as QGC reads them, and a
plan's fence imported back as airspace features."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from missions.geo import GeoPoint
from missions.mission_plan import DEG_E7, build_fence, build_mission
from missions.profile import DroneProfile
from missions.qgc_plan import PlanError, export_plan, fence_features, plan_items
from missions.route import Fence, FenceCircle, FencePolygon, Route, Waypoint

HOME = Waypoint(38.2544, -104.6091, 0.0)
SCENE = Waypoint(38.2680, -104.6091, 60.0)
AREA = FencePolygon(((38.24, -104.62), (38.28, -104.62), (38.28, -104.59), (38.24, -104.59)), True)
ZONE = FencePolygon(((38.26, -104.60), (38.262, -104.60), (38.262, -104.598)), False)
HELIPAD = FenceCircle(GeoPoint(38.25, -104.60), 150.0, False)
ROUTE = Route(
    (HOME, SCENE), 1512.0, Fence((AREA, ZONE), (HELIPAD,)), SCENE.point, cruise_altitude_m=60.0
)
PLAN = build_mission(ROUTE, DroneProfile("d", "udpin://127.0.0.1:1"), on_scene_s=120.0)


def test_the_mission_exports_item_for_item_as_qgc_reads_it() -> None:
    plan = export_plan(PLAN.mission, PLAN.fence, (38.2544, -104.6091, 1430.0), 18.0)
    assert (plan["fileType"], plan["version"], plan["mission"]["firmwareType"]) == ("Plan", 1, 12)
    items = plan["mission"]["items"]
    assert len(items) == len(PLAN.mission)
    for exported, item in zip(items, PLAN.mission, strict=True):
        assert exported["command"] == item.command
        assert len(exported["params"]) == 7
        assert exported["frame"] in (2, 3)  # mission frame, or relative altitude (not _INT)
        for value, expected in zip(
            exported["params"][:4],
            (item.param1, item.param2, item.param3, item.param4),
            strict=True,
        ):  # noqa: E501
            assert value is None if math.isnan(expected) else value == expected
    takeoff = items[PLAN.takeoff_index]["params"]
    assert takeoff[4:6] == [PLAN.mission[PLAN.takeoff_index].x / DEG_E7, HOME.longitude_deg]
    json.dumps(plan, allow_nan=False)  # NaN never reaches the file
    assert plan["rallyPoints"]["points"] == [[38.2544, -104.6091, 1430.0]]
    assert plan_items(plan)[0]["command"] == items[0]["command"]


def test_the_fence_exports_and_imports_back_as_airspace() -> None:
    plan = export_plan(PLAN.mission, build_fence(ROUTE.fence), (38.2544, -104.6091, 1430.0), 18.0)
    fence = plan["geoFence"]
    assert [(p["version"], p["inclusion"], len(p["polygon"])) for p in fence["polygons"]] == [
        (1, True, 4),
        (1, False, 3),
    ]
    assert fence["circles"] == [
        {"version": 1, "inclusion": False, "circle": {"center": [38.25, -104.6], "radius": 150.0}}
    ]
    features = fence_features(plan)
    kinds = [(f["properties"]["kind"], f["geometry"]["type"]) for f in features]
    assert kinds == [("operational_area", "Polygon"), ("no_fly", "Polygon"), ("no_fly", "Point")]
    ring = features[0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] == [-104.62, 38.24]  # closed, [lon, lat] as GeoJSON wants
    assert features[2]["properties"]["radius_m"] == 150.0


@pytest.mark.parametrize(
    ("plan", "why"),
    [
        ({"fileType": "Mission"}, "not a QGroundControl plan"),
        (
            {"fileType": "Plan", "geoFence": {"polygons": [{"polygon": [[1, 2], [3, 4]]}]}},
            "fewer than 3 vertices",
        ),
    ],
)
def test_a_bad_plan_is_refused_with_the_reason(plan: dict, why: str) -> None:
    with pytest.raises(PlanError, match=why):
        fence_features(plan)


def test_dfr_plan_fence_writes_geojson(tmp_path: Path) -> None:
    plan_file = tmp_path / "area.plan"
    plan_file.write_text(json.dumps(export_plan(PLAN.mission, PLAN.fence, (0.0, 0.0, 0.0), 5.0)))
    dfr = [sys.executable, "-m", "dfr.cli", "plan", "fence", str(plan_file)]
    done = subprocess.run(dfr, capture_output=True, check=True)
    assert json.loads(done.stdout)["type"] == "FeatureCollection"
    plan_file.write_text("{not json")
    refused = subprocess.run(dfr, capture_output=True)
    assert refused.returncode == 2
    assert b"area.plan" in refused.stderr
