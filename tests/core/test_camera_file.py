"""The camera file: loaded strictly, errors naming the line, passwords never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfr.camera_file import CameraFileError, load_cameras, redact_url
from dfr.deployment import DeploymentError, builtin_deployment_path, load_deployment

HEADER = "id,name,lat,lon,heading_deg,fov_deg,range_m,source"
GOOD = "cam1,Main & 4th,38.2670,-104.6100,90,60,250,rtsp://cams.example/1"


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "cameras.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_good_file_loads(tmp_path):
    path = write(
        tmp_path,
        HEADER + ",agency",
        GOOD + ",Pueblo PD",
        "dome2,Union Depot,38.2650,-104.6130,-90,360,120,rtsp://admin:pw@10.1.2.3:554/s,",
        "",
        "file3,Test clip,38.2600,-104.6000,0,90,100,file:clips/test.mp4,",
    )
    registry = load_cameras(path)
    assert len(registry) == 3
    dome = registry.get("dome2")
    assert dome is not None
    assert dome.heading_deg == 270
    assert dome.source == "rtsp://admin:pw@10.1.2.3:554/s"
    assert redact_url(dome.source) == "rtsp://admin:***@10.1.2.3:554/s"
    assert registry.get("cam1").agency == "Pueblo PD"
    assert registry.get("file3").source == f"file:{tmp_path / 'clips' / 'test.mp4'}"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("cam2,X,200,-104.6,0,90,100,rtsp://h/1", "line 3: field 'lat': 200 is outside"),
        ("cam2,X,38.2,nan,0,90,100,rtsp://h/1", "line 3: field 'lon': must be finite"),
        ("cam2,X,38.2,-104.6,0,0,100,rtsp://h/1", "line 3: field 'fov_deg': 0 is outside \\(0"),
        ("cam2,X,38.2,-104.6,0,361,100,rtsp://h/1", "field 'fov_deg': 361 is outside"),
        ("cam2,X,38.2,-104.6,0,90,0,rtsp://h/1", "field 'range_m': 0 is outside"),
        ("cam2,X,38.2,-104.6,0,90,1e6,rtsp://h/1", "field 'range_m': 1e\\+06 is outside"),
        ("cam2,X,38.2,-104.6,0,90,abc,rtsp://h/1", "field 'range_m': not a number"),
        ("cam1,X,38.2,-104.6,0,90,100,rtsp://h/1", "duplicate camera id 'cam1' \\(first on line 2"),
        ("cam 2,X,38.2,-104.6,0,90,100,rtsp://h/1", "line 3: field 'id'"),
        ("cam2,,38.2,-104.6,0,90,100,rtsp://h/1", "field 'name'"),
        ("cam2,X,38.2,-104.6,0,90,100,ftp://h/1", "field 'source': 'ftp://h/1' must be an"),
        ("cam2,X,38.2,-104.6,0,90,100,rtsp:///1", "names no host"),
        ("cam2,X,38.2,-104.6,0,90,100", "line 3: 7 fields, the header has 8"),
    ],
)
def test_bad_lines_are_refused_naming_the_line_and_field(tmp_path, line, message):
    with pytest.raises(CameraFileError, match=message):
        load_cameras(write(tmp_path, HEADER, GOOD, line))


def test_a_refused_source_never_shows_its_password(tmp_path):
    line = "cam2,X,38.2,-104.6,0,90,100,ftp://admin:hunter2@h/1"
    with pytest.raises(CameraFileError) as caught:
        load_cameras(write(tmp_path, HEADER, line))
    assert "hunter2" not in str(caught.value)
    assert "admin:***@h" in str(caught.value)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,name,lat,lon,heading_deg,fov_deg,source", "missing column\\(s\\) range_m"),
        (HEADER + ",colour", "unknown column\\(s\\) 'colour'"),
    ],
)
def test_bad_headers_are_refused(tmp_path, header, message):
    with pytest.raises(CameraFileError, match=f"line 1: {message}"):
        load_cameras(write(tmp_path, header))


def test_redaction():
    assert redact_url("rtsp://u:p@h/x") == "rtsp://u:***@h/x"
    assert redact_url("rtsp://u@h/x") == "rtsp://u@h/x"
    assert (
        redact_url("https://h/x?a=1&password=p&token=t") == "https://h/x?a=1&password=***&token=***"
    )


def deployment_with_cameras(tmp_path: Path, cameras_line: str) -> Path:
    source = builtin_deployment_path()
    text = source.read_text().replace(
        'airspace = "pueblo-airspace.geojson"',
        f'airspace = "{source.parent}/pueblo-airspace.geojson"',
    )
    path = tmp_path / "dep.toml"
    path.write_text(text + f"\n[cameras]\n{cameras_line}\n")
    return path


def test_a_deployment_names_its_camera_file(tmp_path):
    write(tmp_path, HEADER, GOOD)
    deployment = load_deployment(deployment_with_cameras(tmp_path, 'file = "cameras.csv"'))
    assert [c.id for c in deployment.cameras] == ["cam1"]
    assert deployment.cameras_per_call == 4
    assert (tmp_path / "cameras.csv").resolve() in deployment.files


def test_a_deployment_with_a_bad_camera_file_names_both(tmp_path):
    write(tmp_path, HEADER, GOOD, "cam2,X,200,-104.6,0,90,100,rtsp://h/1")
    with pytest.raises(DeploymentError, match="dep.toml: field 'cameras.file': .*line 3"):
        load_deployment(deployment_with_cameras(tmp_path, 'file = "cameras.csv"'))
    with pytest.raises(DeploymentError, match="no such file|cannot read"):
        load_deployment(deployment_with_cameras(tmp_path, 'file = "missing.csv"'))


def test_with_cameras_a_drone_id_may_not_look_like_a_camera_stream(tmp_path):
    write(tmp_path, HEADER, GOOD)
    path = deployment_with_cameras(tmp_path, 'file = "cameras.csv"')
    path.write_text(path.read_text().replace('id = "dfr-1"', 'id = "cam-1"', 1))
    with pytest.raises(DeploymentError, match="drone id 'cam-1'"):
        load_deployment(path)


def test_the_benchmark_measures_build_and_queries():
    from dfr.bench_cameras import describe, run

    result = run(cameras=300, queries=40, size_km=2)
    assert result["cameras"] == 300
    assert result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["mean_found"] > 0
    assert "300 cameras over 2 x 2 km" in describe(result)
