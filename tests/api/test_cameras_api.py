"""Fixed cameras in the API: those covering a call, those near a point; consoles only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dfr.cli import server_app
from tests.deployments import edited_pueblo

from .conftest import login, make_settings

CAMERAS = """id,name,lat,lon,heading_deg,fov_deg,range_m,source
union-4th,Union Ave & 4th St,38.26560,-104.61520,90,70,300,rtsp://viewer:hunter2@127.0.0.1:9/u
hq-dome,HQ dome,38.26600,-104.61300,0,360,150,file:missing.ts
looks-away,Looks away,38.26560,-104.61400,270,40,300,rtsp://127.0.0.1:9/a
far,Far away,38.23880,-104.61400,0,90,300,rtsp://127.0.0.1:9/f
"""
SCENE = {"latitude_deg": 38.26580, "longitude_deg": -104.61250}


def pueblo_with_cameras(folder: Path) -> Path:
    path = edited_pueblo(folder, r"^# \[cameras\]$", '[cameras]\nfile = "test-cameras.csv"')
    (folder / "test-cameras.csv").write_text(CAMERAS)
    return path


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("cameras")
    settings = make_settings(folder, deployment=pueblo_with_cameras(folder))
    with TestClient(server_app(settings)) as test_client:
        yield test_client


def new_call(client: TestClient, headers: dict[str, str]) -> int:
    body = {**SCENE, "priority": 2, "summary": "cameras test"}
    response = client.post("/api/calls", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_a_call_lists_the_cameras_that_see_its_scene_nearest_first(client) -> None:
    disp = login(client, "disp")
    call_id = new_call(client, disp)
    cameras = client.get(f"/api/calls/{call_id}/cameras", headers=disp).json()
    assert [c["id"] for c in cameras] == ["hq-dome", "union-4th"]
    dome, union = cameras
    assert dome["distance_m"] < union["distance_m"] < 300
    assert 60 < union["bearing_deg"] < 100  # it looks east, at the scene
    assert union["stream_id"] == "cam-union-4th"
    assert union["whep_url"] == "/whep/cam-union-4th"
    assert union["source"] == "rtsp://viewer:***@127.0.0.1:9/u"
    assert "hunter2" not in str(cameras)
    for name in ("pilot", "rtcc", "admin"):
        assert client.get(f"/api/calls/{call_id}/cameras", headers=login(client, name)).json()
    assert client.get("/api/calls/999999/cameras", headers=disp).status_code == 404


def test_cameras_near_a_point_whatever_they_look_at(client) -> None:
    rtcc = login(client, "rtcc")
    near = client.get("/api/cameras", params={**SCENE, "within_m": 500}, headers=rtcc)
    assert near.status_code == 200
    assert [c["id"] for c in near.json()] == ["hq-dome", "looks-away", "union-4th"]
    wide = client.get("/api/cameras", params={**SCENE, "within_m": 5000}, headers=rtcc).json()
    assert wide[-1]["id"] == "far"


@pytest.mark.parametrize(
    "params",
    [
        {"latitude_deg": 200, "longitude_deg": -104.6},
        {"latitude_deg": "nan", "longitude_deg": -104.6},
        {"latitude_deg": 38.2, "longitude_deg": "inf"},
        {"latitude_deg": 38.2},
        {**SCENE, "within_m": 0},
        {**SCENE, "limit": 0},
    ],
)
def test_bad_points_are_422(client, params) -> None:
    answer = client.get("/api/cameras", params=params, headers=login(client, "disp"))
    assert answer.status_code == 422


def test_officers_share_links_see_no_cameras(client) -> None:
    disp = login(client, "disp")
    call_id = new_call(client, disp)
    token = client.post(f"/api/calls/{call_id}/share", headers=disp).json()["token"]
    officer = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/calls/{call_id}/cameras", headers=officer).status_code == 403
    assert client.get("/api/cameras", params=SCENE, headers=officer).status_code == 403
    sdp = {"Content-Type": "application/sdp"}
    refused = client.post("/whep/cam-union-4th", content="v=0\r\n", headers={**officer, **sdp})
    assert refused.status_code == 403
    assert client.get(f"/api/calls/{call_id}/cameras").status_code == 401


def test_a_console_watching_a_camera_whose_feed_is_down_gets_502(client) -> None:
    sdp = {"Content-Type": "application/sdp", **login(client, "disp")}
    for stream_id in ("cam-hq-dome", "cam-union-4th"):
        answer = client.post(f"/whep/{stream_id}", content="v=0\r\n", headers=sdp)
        assert answer.status_code == 502, answer.text
        assert "hunter2" not in answer.text
    assert client.post("/whep/cam-nope", content="v=0\r\n", headers=sdp).status_code == 404
