"""Launch policies judge calls: sources and types, thresholds, priority, area, hours
(across midnight, in the deployment's time zone), and the first match wins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from dfr.launch_policies import (
    DailyHours,
    LaunchPolicies,
    LaunchPolicy,
    PolicyArea,
    PolicyError,
)
from missions.geo import GeoPoint, LocalFrame

DENVER = ZoneInfo("America/Denver")
FRAME = LocalFrame(GeoPoint(38.2659, -104.6097))
EAST_SIDE = [(-104.585, 38.240), (-104.535, 38.240), (-104.535, 38.285), (-104.585, 38.285)]
IN_EAST_SIDE = (38.2620, -104.5645)
DOWNTOWN = (38.2544, -104.6091)


@dataclass(frozen=True)
class Call:
    source: str = "gunshot"
    call_type: str | None = "gunshot"
    priority: int = 1
    latitude_deg: float = IN_EAST_SIDE[0]
    longitude_deg: float = IN_EAST_SIDE[1]
    confidence: float | None = 0.9
    rounds: int | None = 3


def at_denver(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 7, 4, hour, minute, tzinfo=DENVER)


def gunshot_night() -> LaunchPolicy:
    return LaunchPolicy(
        "gunshot-night",
        frozenset({"gunshot"}),
        min_confidence=0.8,
        min_rounds=2,
        area=PolicyArea.from_lonlat("East Side", EAST_SIDE, FRAME),
        hours=DailyHours.parse("22:00-06:00"),
    )


@pytest.mark.parametrize(
    ("hours", "inside", "outside"),
    [
        ("22:00-06:00", ["22:00", "23:59", "00:00", "05:59"], ["06:00", "12:00", "21:59"]),
        ("08:30-17:00", ["08:30", "16:59"], ["08:29", "17:00", "00:00"]),
        ("00:00-24:00", ["00:00", "12:00", "23:59"], []),
        ("18:00-24:00", ["18:00", "23:59"], ["00:00", "17:59"]),
    ],
)
def test_hours_are_a_daily_window_that_may_cross_midnight(
    hours: str, inside: list[str], outside: list[str]
) -> None:
    window = DailyHours.parse(hours)

    def minute(text: str) -> int:
        h, m = text.split(":")
        return int(h) * 60 + int(m)

    assert all(window.contains(minute(t)) for t in inside)
    assert not any(window.contains(minute(t)) for t in outside)
    assert str(window) == hours


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("22-06", "HH:MM-HH:MM"),
        ("22:00 - 06:00", "HH:MM-HH:MM"),
        ("25:00-06:00", "not a time of day"),
        ("22:60-06:00", "not a time of day"),
        ("24:00-06:00", "not a time of day"),
        ("22:00-24:30", "not a time of day"),
        ("06:00-06:00", "same time"),
    ],
)
def test_bad_hours_are_refused_with_why(text: str, says: str) -> None:
    with pytest.raises(PolicyError, match=says):
        DailyHours.parse(text)


def test_a_matching_gunshot_at_night_in_the_zone_is_taken() -> None:
    policies = LaunchPolicies((gunshot_night(),), 2, DENVER)
    taken = policies.matching(Call(), at_denver(23, 30))
    assert taken is not None
    assert taken.name == "gunshot-night"
    assert taken.actor == "policy:gunshot-night"
    # 05:30 in Denver is 11:30 UTC: the hours are local.
    utc = datetime(2026, 7, 4, 11, 30, tzinfo=UTC)
    assert policies.matching(Call(), utc) is not None
    assert policies.matching(Call(), datetime(2026, 7, 4, 13, 30, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("call", "now", "why"),
    [
        (Call(confidence=0.55), at_denver(23), "confidence 55% is below 80%"),
        (Call(confidence=None), at_denver(23), "has no confidence"),
        (Call(rounds=1), at_denver(23), "1 round(s) are fewer than 2"),
        (Call(rounds=None), at_denver(23), "no count of rounds"),
        (Call(latitude_deg=DOWNTOWN[0], longitude_deg=DOWNTOWN[1]), at_denver(23), "outside East"),
        (Call(), at_denver(14, 5), "14:05 is outside its hours 22:00-06:00"),
        (Call(source="cad"), at_denver(23), "source cad is not gunshot"),
    ],
)
def test_a_call_a_policy_does_not_take_is_explained(call: Call, now: datetime, why: str) -> None:
    policy = gunshot_night()
    assert why in (policy.mismatch(call, now) or "")
    policies = LaunchPolicies((policy,), 1, DENVER)
    assert policies.matching(call, now) is None


def test_thresholds_are_inclusive() -> None:
    policy = gunshot_night()
    assert policy.mismatch(Call(confidence=0.8, rounds=2), at_denver(22)) is None


def test_call_types_and_priority() -> None:
    cad = LaunchPolicy(
        "cad-p1",
        frozenset({"cad"}),
        call_types=frozenset({"shots_fired", "robbery"}),
        max_priority=1,
    )
    call = Call(source="cad", call_type="robbery", priority=1, confidence=None, rounds=None)
    now = at_denver(12)
    assert cad.mismatch(call, now) is None
    assert "priority 2 is less urgent than 1" in (
        cad.mismatch(Call(source="cad", call_type="robbery", priority=2), now) or ""
    )
    assert "call type burglary" in (
        cad.mismatch(Call(source="cad", call_type="burglary"), now) or ""
    )
    assert "call type (none)" in (cad.mismatch(Call(source="cad", call_type=None), now) or "")


def test_the_first_policy_that_takes_a_call_wins_and_the_others_explain() -> None:
    narrow = gunshot_night()
    broad = LaunchPolicy("gunshot-any", frozenset({"gunshot"}), min_rounds=1)
    cad = LaunchPolicy("cad", frozenset({"cad"}))
    policies = LaunchPolicies((narrow, broad, cad), 1, DENVER)
    assert policies.matching(Call(), at_denver(23)).name == "gunshot-night"
    assert policies.matching(Call(), at_denver(12)).name == "gunshot-any"
    quiet = Call(rounds=None)
    assert policies.matching(quiet, at_denver(12)) is None
    # Only the policies that take gunshots at all explain themselves.
    assert set(policies.explain(quiet, at_denver(12))) == {"gunshot-night", "gunshot-any"}
    assert policies.concern(Call(source="cad"))
    assert not policies.concern(Call(source="manual"))


def test_a_polygon_area_must_be_a_polygon() -> None:
    bowtie = [(-104.58, 38.24), (-104.54, 38.28), (-104.54, 38.24), (-104.58, 38.28)]
    with pytest.raises(PolicyError, match="not a valid polygon"):
        PolicyArea.from_lonlat("bowtie", bowtie, FRAME)
    line = [(-104.58, 38.24), (-104.57, 38.24), (-104.56, 38.24)]
    with pytest.raises(PolicyError):
        PolicyArea.from_lonlat("line", line, FRAME)
    area = PolicyArea.from_lonlat("East Side", EAST_SIDE, FRAME)
    assert area.contains(GeoPoint(*IN_EAST_SIDE))
    assert not area.contains(GeoPoint(*DOWNTOWN))
