"""Launch policies in a deployment file: Pueblo's two examples load, and a bad policy is
refused with a message naming the file, the policy and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfr.deployment import Deployment, DeploymentError, load_deployment
from dfr.launch_policies import LaunchMode, OnTimeout

GUNSHOT_ZONE = 'zone = "East Side patrol district"'


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_pueblo_has_gunshot_cad_and_officer_policies(
    pueblo: Deployment,
) -> None:
    policies = pueblo.launch_policies
    assert policies.max_concurrent == 2
    assert str(policies.time_zone) == "America/Denver"
    gunshot, cad, officer = policies.policies
    assert (gunshot.name, gunshot.mode, gunshot.sources) == (
        "gunshot-night",
        LaunchMode.IMMEDIATE,
        frozenset({"gunshot"}),
    )
    assert (gunshot.min_confidence, gunshot.min_rounds, str(gunshot.hours)) == (
        0.8,
        2,
        "22:00-06:00",
    )
    assert gunshot.area is not None
    assert gunshot.area.name == "East Side patrol district"
    eastside = pueblo.station("eastside").position
    assert gunshot.area.contains(eastside)
    assert not gunshot.area.contains(pueblo.station("hq").position)
    assert (cad.mode, cad.confirm_s, cad.on_timeout, cad.max_priority) == (
        LaunchMode.PILOT_CONFIRM,
        20.0,
        OnTimeout.EXPIRE,
        1,
    )
    assert "robbery" in cad.call_types
    assert (officer.sources, officer.mode, officer.on_timeout, officer.max_priority) == (
        frozenset({"officer"}),
        LaunchMode.PILOT_CONFIRM,
        OnTimeout.LAUNCH,
        2,
    )
    assert pueblo.officer_requests.max_accuracy_m == 100.0
    # The named area is an airspace feature without a flight rule: routes ignore it.
    assert [z.name for z in pueblo.airspace.areas] == ["East Side patrol district"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            GUNSHOT_ZONE,
            'zone = "North Side district"',
            [
                "launch policy 'gunshot-night'",
                "field 'zone'",
                "no airspace feature is named 'North Side district'",
                "'East Side patrol district'",
            ],
        ),
        (
            'hours = "22:00-06:00"',
            'hours = "10pm-6am"',
            ["launch policy 'gunshot-night'", "field 'hours'", "HH:MM-HH:MM"],
        ),
        (
            'hours = "22:00-06:00"',
            'hours = "22:00-22:00"',
            ["launch policy 'gunshot-night'", "same time"],
        ),
        (
            "confirm_s = 20",
            "confirm_s = 0",
            ["launch policy 'cad-p1-violent'", "field 'confirm_s'", "greater than 0"],
        ),
        (
            "confirm_s = 20",
            "confirm_s = -5",
            ["launch policy 'cad-p1-violent'", "field 'confirm_s'"],
        ),
        (
            "confirm_s = 20",
            "confirm_s = nan",
            ["launch policy 'cad-p1-violent'", "field 'confirm_s'", "finite number"],
        ),
        (
            "min_confidence = 0.8",
            "min_confidence = nan",
            ["launch policy 'gunshot-night'", "field 'min_confidence'", "finite number"],
        ),
        (
            "min_confidence = 0.8",
            "min_confidence = 80",
            ["launch policy 'gunshot-night'", "field 'min_confidence'", "less than or equal to 1"],
        ),
        (
            "min_rounds = 2",
            "min_rounds = 0",
            ["launch policy 'gunshot-night'", "field 'min_rounds'"],
        ),
        (
            'sources = ["gunshot"]',
            'sources = ["radio"]',
            ["launch policy 'gunshot-night'", "field 'sources.0'"],
        ),
        (
            'sources = ["gunshot"]',
            "sources = []",
            ["launch policy 'gunshot-night'", "field 'sources'"],
        ),
        (
            'on_timeout = "expire"',
            'on_timeout = "retry"',
            ["launch policy 'cad-p1-violent'", "field 'on_timeout'"],
        ),
        (
            'mode = "immediate"',
            'mode = "immediate"\nconfirm_s = 10',
            ["launch policy 'gunshot-night'", "confirm_s apply to mode 'pilot_confirm' only"],
        ),
        (
            GUNSHOT_ZONE,
            GUNSHOT_ZONE + "\npolygon = [[-104.58, 38.24], [-104.54, 38.24], [-104.54, 38.28]]",
            ["launch policy 'gunshot-night'", "a zone or a polygon, not both"],
        ),
        (
            GUNSHOT_ZONE,
            "polygon = [[-104.58, 38.24], [-104.54, 38.28], [-104.54, 38.24], [-104.58, 38.28]]",
            ["launch policy 'gunshot-night'", "field 'polygon'", "not a valid polygon"],
        ),
        (
            GUNSHOT_ZONE,
            "polygon = [[-104.58, 38.24], [-104.54, 95.0], [-104.54, 38.24]]",
            ["launch policy 'gunshot-night'", "field 'polygon.1.1'"],
        ),
        (
            'name = "cad-p1-violent"',
            'name = "gunshot-night"',
            ["duplicate launch policy name 'gunshot-night'"],
        ),
        (
            'name = "cad-p1-violent"',
            'name = "cad p1"',
            ["launch policy 'cad p1'", "field 'name'"],
        ),
        (
            "max_concurrent = 2",
            "max_concurrent = 0",
            ["field 'auto_launch.max_concurrent'", "greater than or equal to 1"],
        ),
        (
            'time_zone = "America/Denver"             # local time',
            'time_zone = "Mars/Olympus"  #',
            ["deployment.time_zone", "unknown time zone 'Mars/Olympus'"],
        ),
    ],
)
def test_a_bad_policy_is_refused_naming_the_policy_and_the_field(
    builtin_files: tuple[Path, Path], old: str, new: str, expected: list[str]
) -> None:
    toml, _ = builtin_files
    _edit(toml, old, new)
    with pytest.raises(DeploymentError) as err:
        load_deployment(toml)
    message = str(err.value)
    assert str(toml) in message
    for part in expected:
        assert part in message, message


def test_a_policy_may_give_its_own_polygon_and_no_hours(builtin_files: tuple[Path, Path]) -> None:
    toml, _ = builtin_files
    _edit(toml, GUNSHOT_ZONE, "polygon = [[-104.70, 38.20], [-104.50, 38.20], [-104.50, 38.32]]")
    _edit(toml, 'hours = "22:00-06:00"\n', "")
    policy = load_deployment(toml).launch_policies.named("gunshot-night")
    assert policy is not None
    assert policy.hours is None
    assert policy.area is not None
    assert policy.area.name == "policy gunshot-night's polygon"


def test_a_deployment_without_policies_launches_nothing_by_itself(
    builtin_files: tuple[Path, Path],
) -> None:
    toml, _ = builtin_files
    text = toml.read_text()
    start, end = text.index("[auto_launch]"), text.index("[[stations]]")
    toml.write_text(text[:start] + text[end:])
    deployment = load_deployment(toml)
    assert not deployment.launch_policies
    assert deployment.launch_policies.max_concurrent == 1
