"""The `dfr` console command, run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deployments import edited_pueblo

DFR = shutil.which("dfr", path=str(Path(sys.executable).parent)) or "dfr"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([DFR, *args], capture_output=True, text=True, timeout=300)


def test_recommend_json_schema() -> None:
    out = run("recommend", "--lat", "38.2544", "--lon", "-104.6091", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"candidates", "excluded"}
    first = data["candidates"][0]
    assert {"station_id", "drone_id", "eta_s", "distance_m", "route"} <= set(first)
    assert first["route"]["type"] == "LineString"
    lon, lat, alt = first["route"]["coordinates"][0]
    assert (round(lat, 4), round(lon, 4), alt) == (38.2659, -104.6097, 0.0)
    assert [c["station_id"] for c in data["candidates"]] == ["hq", "bessemer", "eastside"]


def test_recommend_text_and_bad_coordinates() -> None:
    out = run("recommend", "--lat", "38.2544", "--lon", "-104.6091")
    assert out.returncode == 0
    assert "hq" in out.stdout
    assert "ETA" in out.stdout
    bad = run("recommend", "--lat", "200", "--lon", "-104.6")
    assert bad.returncode == 2
    assert "latitude 200 is outside [-90, 90]" in bad.stderr


def test_bad_deployment_file_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "d.toml"
    path.write_text("[deployment]\nname = 'x'\n")
    out = run("check", "--deployment", str(path))
    assert out.returncode == 2
    assert str(path) in out.stderr
    assert "deployment.airspace" in out.stderr


def test_check_lists_the_launch_policies_and_refuses_an_unknown_zone(tmp_path) -> None:
    ok = run("check")
    assert ok.returncode == 0, ok.stderr
    assert "1 named area(s)" in ok.stdout
    assert "launch policy 'gunshot-night': gunshot in 'East Side patrol district'" in ok.stdout
    assert "cad-p1-violent': cad, pilot_confirm, 20 s to confirm, then expire" in ok.stdout
    path = edited_pueblo(
        tmp_path, r'^zone = "East Side patrol district"$', 'zone = "Eastside district"'
    )
    bad = run("check", "--deployment", str(path))
    assert bad.returncode == 2
    assert (
        f"{path}: launch policy 'gunshot-night': field 'zone': no airspace feature is named"
        " 'Eastside district'"
    ) in bad.stderr


def test_coverage_prints_areas_and_writes_a_png(tmp_path) -> None:
    png = tmp_path / "cov.png"
    out = run("coverage", "--png", str(png), "--cell-m", "200", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [s["station_id"] for s in data["stations"]] == ["hq", "bessemer", "eastside"]
    for s in data["stations"]:
        assert 0 < s["within_60s_km2"] < s["within_90s_km2"]
    assert 0 < data["share_covered"]["within_60s"] < data["share_covered"]["within_90s"] <= 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_recommend_json() -> None:
    out = run("bench", "recommend", "--calls", "30", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("pueblo", "large"):
        assert data[key]["p50_ms"] > 0
        assert data[key]["p99_ms"] >= data[key]["p50_ms"]
    assert data["large"]["stations"] == 50
    assert data["large"]["zones"] == 1000


def test_check_accepts_unit_keys_and_warns_about_the_old_ones(tmp_path) -> None:
    path = edited_pueblo(tmp_path)
    new = run("check", "--deployment", str(path))
    assert new.returncode == 0, new.stderr
    assert "ok" in new.stdout
    assert "deprecated" not in new.stderr
    text = path.read_text().replace("max_speed_m_s = 20", "max_speed_ms = 20", 1)
    path.write_text(text.replace("cruise_speed_m_s = 18", "cruise_speed_ms = 18"))
    old = run("check", "--deployment", str(path))
    assert old.returncode == 0, old.stderr
    assert "ok" in old.stdout
    assert "station 'hq': drone: key 'max_speed_ms' is deprecated" in old.stderr
    assert "write 'max_speed_m_s'" in old.stderr
    assert "defaults: key 'cruise_speed_ms' is deprecated" in old.stderr
    assert old.stderr.count("deprecated") == 2


def test_check_refuses_a_key_given_in_both_units(tmp_path) -> None:
    path = edited_pueblo(tmp_path)
    path.write_text(path.read_text().replace("climb_m_s = 5", "climb_m_s = 5\nclimb_ms = 5", 1))
    out = run("check", "--deployment", str(path))
    assert out.returncode == 2
    assert "both 'climb_ms' and 'climb_m_s'" in out.stderr


def test_check_lists_the_fixed_cameras_without_their_passwords(tmp_path) -> None:
    path = edited_pueblo(tmp_path, r"^# \[cameras\]$", '[cameras]\nfile = "cams.csv"')
    (tmp_path / "cams.csv").write_text(
        "id,name,lat,lon,heading_deg,fov_deg,range_m,source\n"
        "union-4th,Union Ave,38.2656,-104.6152,90,70,300,rtsp://viewer:hunter2@10.0.0.7/s1\n"
    )
    ok = run("check", "--deployment", str(path))
    assert ok.returncode == 0, ok.stderr
    assert "fixed cameras: 1, up to 4 shown per call" in ok.stdout
    assert "union-4th: Union Ave" in ok.stdout
    assert "rtsp://viewer:***@10.0.0.7/s1" in ok.stdout
    (tmp_path / "cams.csv").write_text(
        "id,name,lat,lon,heading_deg,fov_deg,range_m,source\n"
        "union-4th,Union Ave,38.2656,-104.6152,90,70,300,ftp://viewer:hunter2@10.0.0.7/s1\n"
    )
    bad = run("check", "--deployment", str(path))
    assert bad.returncode == 2
    assert "cams.csv: line 2: field 'source'" in bad.stderr
    assert "hunter2" not in bad.stdout + bad.stderr


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        ({"DFR_PORT": "eighty"}, "port: Input should be a valid integer"),
        ({"DFR_VIDEO_TURN_URLS": "turn:turn.example.org"}, "need video_turn_secret"),
        ({"DFR_VIDEO_STUN_URLS": "[stun:x"}, "not a JSON list of URLs"),
        ({"DFR_AGENCY_WEBHOOK_TOKENS": "{not json"}, 'field "agency_webhook_tokens"'),
    ],
)
def test_a_refused_setting_is_one_line_that_names_it(
    tmp_path, variables: dict[str, str], said: str
) -> None:
    """No traceback, and no value echoed (a secret may be among them)."""
    env = {**os.environ, "DFR_STATE_DIR": str(tmp_path), **variables}
    done = subprocess.run([DFR, "serve"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert said in done.stderr
    assert done.stderr.startswith("dfr: error: settings")
    assert "Traceback" not in done.stderr
