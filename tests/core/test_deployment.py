"""Deployment files: Pueblo loads; bad files get messages naming file, item and field."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

from dfr import web_origins
from dfr.deployment import DeploymentError, load_deployment
from missions.mission_plan import LinkLossAction
from tests.core.conftest import ORIGIN, feature, polygon, square, write_deployment


def test_builtin_pueblo_has_three_stations_and_airspace(pueblo) -> None:
    assert [s.id for s in pueblo.stations] == ["hq", "bessemer", "eastside"]
    names = {z.name for z in pueblo.airspace.no_fly}
    assert any("KPUB" in n for n in names)
    assert sum("helipad" in n for n in names) == 2
    assert pueblo.airspace.ceilings
    for s in pueblo.stations:
        assert pueblo.airspace.contains(s.position)
        assert pueblo.planner.permitted(s.position)


def _bowtie(ring: list) -> None:
    ring[1], ring[2] = ring[2], ring[1]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "max_speed_m_s = 20",
            'max_speed_m_s = 20\ncolour = "red"',
            ["station 'hq'", "drone.colour", "unknown key"],
        ),
        ("lat = 38.2659", "lat = 200", ["station 'hq'", "'lat'", "less than or equal to 90"]),
        ('id = "bessemer"', 'id = "hq"', ["duplicate station id 'hq'"]),
        ('id = "dfr-2"', 'id = "dfr-1"', ["duplicate drone id 'dfr-1'"]),
        ("lat = 38.2385", "lat = 38.5", ["station 'bessemer'", "outside the operational area"]),
        ("reserve_pct = 25", "reserve_pct = 120", ["defaults.reserve_pct"]),
        (
            'link_loss_action = "return"',
            'link_loss_action = "terminate"',
            ["defaults.link_loss_action", "'return', 'hold' or 'land'"],
        ),
        (
            "link_loss_timeout_s = 30",
            "link_loss_timeout_s = 2",
            ["defaults.link_loss_timeout_s", "greater than or equal to 5"],
        ),
        ("[deployment]", "[deployment]\nbogus = 1", ["deployment.bogus", "unknown key"]),
        (
            "climb_m_s = 5\n",
            "climb_m_s = -5\n",
            ["station 'hq'", "drone.climb_m_s", "greater than 0"],
        ),
    ],
)
def test_bad_deployment_names_file_item_and_field(builtin_files, old, new, expected) -> None:
    toml, _ = builtin_files
    _edit(toml, old, new)
    with pytest.raises(DeploymentError) as err:
        load_deployment(toml)
    message = str(err.value)
    assert str(toml) in message
    for part in expected:
        assert part in message


def test_station_inside_no_fly_zone_is_rejected(builtin_files) -> None:
    toml, _ = builtin_files
    _edit(toml, "lat = 38.2385\nlon = -104.6145", "lat = 38.2453\nlon = -104.6065")
    with pytest.raises(DeploymentError, match="station 'bessemer'.*St. Mary-Corwin"):
        load_deployment(toml)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda f: _bowtie(f[1]["geometry"]["coordinates"][0]),
            ["'Pueblo Memorial Airport", "geometry", "Self-intersection"],
        ),
        (lambda f: f[2]["properties"].pop("radius_m"), ["Parkview", "radius_m"]),
        (lambda f: f[2]["properties"].__setitem__("kind", "nofly"), ["Parkview", "'kind'"]),
        (
            lambda f: f[2]["properties"].__setitem__("height", 3),
            ["Parkview", "unknown property 'height'"],
        ),
        (
            lambda f: f[2]["geometry"].__setitem__("coordinates", [-104.6, 95.0]),
            ["Parkview", "latitude 95 is outside"],
        ),
        (lambda f: f[5]["properties"].pop("ceiling_m"), ["Fairgrounds", "ceiling_m"]),
        (lambda f: f[1]["properties"].__setitem__("buffer_m", -5), ["KPUB", "buffer_m"]),
    ],
)
def test_bad_airspace_names_file_feature_and_field(builtin_files, mutate, expected) -> None:
    toml, air = builtin_files
    data = json.loads(air.read_text())
    mutate(data["features"])
    air.write_text(json.dumps(data))
    with pytest.raises(DeploymentError) as err:
        load_deployment(toml)
    message = str(err.value)
    assert str(air) in message
    for part in expected:
        assert part in message


def test_unreadable_files(tmp_path, builtin_files) -> None:
    with pytest.raises(DeploymentError, match="cannot read deployment file"):
        load_deployment(tmp_path / "missing.toml")
    toml, air = builtin_files
    air.write_text("{not json")
    with pytest.raises(DeploymentError, match="not valid JSON"):
        load_deployment(toml)
    toml.write_text("[deployment\nname=")
    with pytest.raises(DeploymentError, match="not valid TOML"):
        load_deployment(toml)


def test_airspace_without_operational_area(tmp_path) -> None:
    path = write_deployment(tmp_path, [feature("no_fly", "z", polygon(square(500, 0, 50)))])
    with pytest.raises(DeploymentError, match="no feature with kind 'operational_area'"):
        load_deployment(path)


def test_minimal_deployment_loads(tmp_path) -> None:
    path = write_deployment(
        tmp_path, [feature("operational_area", "a", polygon(square(0, 0, 2000)))]
    )
    d = load_deployment(path)
    assert d.stations[0].position == ORIGIN
    assert d.stations[0].drone.cruise_speed_m_s == 18.0


AREA = feature("operational_area", "City", polygon(square(0, 0, 5000)))


def test_a_station_under_a_low_ceiling_is_refused_with_the_rule_and_the_setting(tmp_path) -> None:
    grid = feature(
        "ceiling", "UAS facility map grid 100 ft", polygon(square(0, 0, 400)), ceiling_m=30
    )
    path = write_deployment(tmp_path, [AREA, grid])
    with pytest.raises(DeploymentError) as err:
        load_deployment(path)
    message = str(err.value)
    for part in (
        "station 'hq'",
        "ceiling zone 'UAS facility map grid 100 ft'",
        "ceiling 30 m",
        "5 m below it, here at 25 m",
        "minimum safe altitude (30 m)",
        "min_safe_alt_m = 25",
    ):
        assert part in message, message
    lowered = write_deployment(tmp_path, [AREA, grid], extra="\n[defaults]\nmin_safe_alt_m = 20\n")
    deployment = load_deployment(lowered)
    assert deployment.planner.permitted(deployment.stations[0].position)


def test_a_station_in_a_no_fly_buffer_names_the_zone_and_the_buffer(tmp_path) -> None:
    helipad = feature("no_fly", "St. Mary helipad", polygon(square(150, 0, 50)), buffer_m=150)
    with pytest.raises(DeploymentError) as err:
        load_deployment(write_deployment(tmp_path, [AREA, helipad]))
    assert "within the 150 m buffer of no-fly zone 'St. Mary helipad'" in str(err.value)
    assert "buffer_m" in str(err.value)


def test_link_loss_behaviour_is_a_deployment_setting(builtin_files) -> None:
    toml, _ = builtin_files
    assert load_deployment(toml).flight_settings.link_loss_action is LinkLossAction.RETURN
    _edit(toml, 'link_loss_action = "return"', 'link_loss_action = "hold"')
    _edit(toml, "link_loss_timeout_s = 30", "link_loss_timeout_s = 60")
    flight = load_deployment(toml).flight_settings
    assert flight.link_loss_action is LinkLossAction.HOLD
    assert flight.link_loss_timeout_s == 60


def test_public_categories_map_call_types_whatever_their_case(pueblo) -> None:
    assert pueblo.public_category("gunshot") == "Weapons and shots fired"
    assert pueblo.public_category(" Shots_Fired ") == "Weapons and shots fired"
    assert pueblo.public_category("noise_complaint") == "Other call for service"
    assert pueblo.public_category(None) == "Other call for service"
    assert (pueblo.public_log.delay_h, pueblo.public_log.time_zone) == (24, "America/Denver")


def test_a_deployment_without_a_public_log_section_gets_the_defaults(tmp_path) -> None:
    features = [feature("operational_area", "city", polygon(square(0, 0, 5000)))]
    deployment = load_deployment(write_deployment(tmp_path, features))
    assert (deployment.public_log.delay_h, deployment.public_log.track_grid_m) == (24, 200)
    assert deployment.public_category("burglary") == "Other call for service"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("delay_h = 24 ", "delay_h = -1 ", ["public_log.delay_h", "greater than or equal to 0"]),
        ("track_grid_m = 200 ", "track_grid_m = 5 ", ["public_log.track_grid_m"]),
        (
            'time_zone = "America/Denver"   # of the published',
            'time_zone = "America/Pueblo"   # of the published',
            ["public_log.time_zone", "unknown time zone 'America/Pueblo'"],
        ),
        (
            'theft = "Property crime"',
            'theft = "Property crime"\nTHEFT = "Theft"',
            ["public_categories.call_types", "'THEFT' is listed twice"],
        ),
        ('fire = "Fire and hazards"', '"fire!" = "Fire"', ["public_categories.call_types"]),
        ('default = "Other call for service"', 'default = ""', ["public_categories.default"]),
    ],
)
def test_bad_public_log_settings_name_the_field(builtin_files, old, new, expected) -> None:
    toml, _ = builtin_files
    _edit(toml, old, new)
    with pytest.raises(DeploymentError) as err:
        load_deployment(toml)
    for part in expected:
        assert part in str(err.value)


def test_video_origins_are_written_as_browsers_send_them(builtin_files) -> None:
    toml, _ = builtin_files
    _edit(
        toml,
        "[defaults]",
        '[video]\ncors_origins = ["https://RTCC.example.gov:443", "http://127.0.0.1:8080"]\n\n'
        "[defaults]",
    )
    origins = load_deployment(toml).video.cors_origins
    assert origins == ["https://rtcc.example.gov", "http://127.0.0.1:8080"]


def test_a_deployment_lists_no_video_origin_unless_told(pueblo) -> None:
    assert pueblo.video.cors_origins == []


@pytest.mark.parametrize(
    ("origins", "expected"),
    [
        ('["*"]', ["'*' would let every web page", "list each origin"]),
        ('["https://*.example.gov"]', ["no wildcards"]),
        ('["https://rtcc.example.gov/"]', ["no path", "write 'https://rtcc.example.gov'"]),
        ('["https://rtcc.example.gov/player"]', ["no path"]),
        ('["rtcc.example.gov"]', ["not an origin", "scheme://host[:port]"]),
        ('["ftp://rtcc.example.gov"]', ["not an origin"]),
        ('["null"]', ["names no one"]),
        ('["https://me:pw@rtcc.example.gov"]', ["no user name or password"]),
        ('["https://rtcc.example.gov:70000"]', ["not an origin"]),
        ('["https://a.gov", "https://A.gov:443"]', ["'https://a.gov' is listed twice"]),
        ('"https://a.gov"', ["valid list"]),
    ],
)
def test_bad_video_origins_name_the_field_and_why(builtin_files, origins, expected) -> None:
    toml, _ = builtin_files
    _edit(toml, "[defaults]", f"[video]\ncors_origins = {origins}\n\n[defaults]")
    with pytest.raises(DeploymentError) as err:
        load_deployment(toml)
    message = str(err.value)
    assert str(toml) in message
    assert "video.cors_origins" in message
    for part in expected:
        assert part in message


def test_the_origin_examples_hold() -> None:
    assert doctest.testmod(web_origins).failed == 0
