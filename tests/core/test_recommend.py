"""Recommendation: every station ranked by ETA, exclusions explained, minimum ETA first."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dfr.recommend import DroneAvailability, ExclusionKind, recommend
from missions.geo import GeoPoint

DOWNTOWN = GeoPoint(38.2544, -104.6091)


def test_pueblo_ranking_downtown(pueblo) -> None:
    rec = recommend(pueblo, DOWNTOWN)
    assert [c.station_id for c in rec.candidates] == ["hq", "bessemer", "eastside"]
    assert rec.best.eta_s < 90
    etas = [c.eta_s for c in rec.candidates]
    assert etas == sorted(etas)
    assert rec.excluded == ()


def test_exclusions_carry_reasons(pueblo) -> None:
    availability = {
        "hq": DroneAvailability(online=False),
        "bessemer": DroneAvailability(battery_pct=30.0),
        "eastside": DroneAvailability(sortie_id="7"),
    }
    rec = recommend(pueblo, DOWNTOWN, availability)
    reasons = {e.station_id: e.reason for e in rec.excluded}
    assert rec.candidates == ()
    assert reasons["hq"] == "drone offline: no MAVLink link"
    assert reasons["bessemer"].startswith("battery 30% below the")
    assert reasons["eastside"] == "drone not docked: on sortie 7"
    kinds = {e.station_id: e.kind for e in rec.excluded}
    assert kinds == {
        "hq": ExclusionKind.OFFLINE,
        "bessemer": ExclusionKind.LOW_BATTERY,
        "eastside": ExclusionKind.ON_SORTIE,
    }
    assert not any(e.lasting for e in rec.excluded)
    rec = recommend(
        pueblo,
        DOWNTOWN,
        {
            "hq": DroneAvailability(maintenance=True),
            "bessemer": DroneAvailability(docked=False),
            "eastside": DroneAvailability(healthy=False),
        },
    )
    reasons = {e.station_id: e.reason for e in rec.excluded}
    assert reasons == {
        "hq": "drone in maintenance",
        "bessemer": "drone not docked",
        "eastside": "drone not healthy: preflight checks failing",
    }


def test_out_of_range_and_no_route_reasons(pueblo) -> None:
    rec = recommend(pueblo, GeoPoint(38.2700, -104.6097), on_scene_s=2000)
    assert all(e.reason.startswith("out of range") and e.lasting for e in rec.excluded)
    assert {e.kind for e in rec.excluded} == {ExclusionKind.BEYOND_ENDURANCE}
    airport = recommend(pueblo, GeoPoint(38.2850, -104.5150))
    assert airport.candidates == ()
    assert all(e.lasting and e.kind is ExclusionKind.NO_ROUTE for e in airport.excluded)
    reasons = {e.station_id: e.reason for e in airport.excluded}
    assert reasons["eastside"] == (
        "scene is in no-fly zone 'Pueblo Memorial Airport (KPUB) surface area'; "
        "no permitted stand-off within 1000 m"
    )


def test_scene_in_helipad_zone_is_served_by_stand_off(pueblo) -> None:
    rec = recommend(pueblo, GeoPoint(38.2805, -104.6135))
    assert rec.best.station_id == "hq"
    assert rec.best.route.standoff
    assert rec.best.route.point_of_interest == GeoPoint(38.2805, -104.6135)


@settings(max_examples=40, deadline=None)
@given(
    lat=st.floats(38.22, 38.30),
    lon=st.floats(-104.66, -104.51),
    states=st.lists(st.tuples(st.booleans(), st.floats(0, 100)), min_size=3, max_size=3),
)
def test_best_candidate_has_the_minimum_eta(pueblo, lat, lon, states) -> None:
    availability = {
        s.id: DroneAvailability(online=online, battery_pct=battery)
        for s, (online, battery) in zip(pueblo.stations, states, strict=True)
    }
    rec = recommend(pueblo, GeoPoint(lat, lon), availability)
    assert len(rec.candidates) + len(rec.excluded) == 3
    for c in rec.candidates:
        assert availability[c.station_id].online
        assert availability[c.station_id].battery_pct - c.battery_needed_pct >= 25
    if rec.candidates:
        assert rec.best.eta_s == min(c.eta_s for c in rec.candidates)
