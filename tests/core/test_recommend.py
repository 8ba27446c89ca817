"""Recommendation: every station ranked by ETA, exclusions explained, minimum ETA first."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dfr.recommend import AirborneDrone, DroneAvailability, ExclusionKind, recommend
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


def _flying(
    pueblo, station_id: str, where: GeoPoint, state: str, priority: int, **over: float
) -> AirborneDrone:
    fields = {
        "velocity_north_m_s": 0.0,
        "velocity_east_m_s": 0.0,
        "battery_pct": 80.0,
        "altitude_m": 60.0,
        **over,
    }
    return AirborneDrone(
        sortie_id=7, sortie_state=state, call_id=3, call_priority=priority, position=where, **fields
    )


def test_a_drone_returning_near_the_scene_is_ranked_from_where_it_flies(pueblo) -> None:
    near = GeoPoint(DOWNTOWN.latitude_deg + 0.003, DOWNTOWN.longitude_deg)  # ~330 m north
    on_sortie = {"eastside": DroneAvailability(sortie_id="7")}
    airborne = {"eastside": _flying(pueblo, "eastside", near, "returning", 3)}
    rec = recommend(pueblo, DOWNTOWN, on_sortie, airborne=airborne, priority=1)
    best = rec.best
    assert best is not None
    assert best.station_id == "eastside"
    assert best.airborne
    assert best.retask_sortie_id == 7
    assert best.retask_from_call_id == 3
    assert best.eta.takeoff_s == 0.0
    assert best.route.waypoints[0].point.distance_m(near) < 1.0
    assert best.as_json()["airborne"] is True
    docked = recommend(pueblo, DOWNTOWN, on_sortie)
    assert "eastside" not in [c.station_id for c in docked.candidates]


def test_moving_away_from_the_scene_costs_time(pueblo) -> None:
    near = GeoPoint(DOWNTOWN.latitude_deg + 0.005, DOWNTOWN.longitude_deg)
    on_sortie = {"eastside": DroneAvailability(sortie_id="7")}

    def eta(north_m_s: float) -> float:
        flying = _flying(pueblo, "eastside", near, "returning", 3, velocity_north_m_s=north_m_s)
        rec = recommend(pueblo, DOWNTOWN, on_sortie, airborne={"eastside": flying}, priority=1)
        return next(c.eta_s for c in rec.candidates if c.station_id == "eastside")

    assert eta(-12.0) < eta(0.0) < eta(12.0)  # south (towards the scene) is quicker


def test_on_scene_it_is_re_tasked_only_for_a_more_urgent_call(pueblo) -> None:
    on_sortie = {"eastside": DroneAvailability(sortie_id="7")}
    airborne = {"eastside": _flying(pueblo, "eastside", DOWNTOWN, "on_scene", 2)}
    for priority, taken in ((1, True), (2, False), (3, False), (None, False)):
        rec = recommend(pueblo, DOWNTOWN, on_sortie, airborne=airborne, priority=priority)
        assert ("eastside" in [c.station_id for c in rec.candidates]) is taken, priority
        if not taken:
            why = next(e for e in rec.excluded if e.station_id == "eastside")
            assert why.kind is ExclusionKind.ON_SORTIE
    en_route = {"eastside": _flying(pueblo, "eastside", DOWNTOWN, "en_route", 3)}
    rec = recommend(pueblo, DOWNTOWN, on_sortie, airborne=en_route, priority=1)
    assert "eastside" not in [c.station_id for c in rec.candidates]


def test_a_flying_drone_short_of_battery_is_excluded_saying_why(pueblo) -> None:
    on_sortie = {"eastside": DroneAvailability(sortie_id="7")}
    low = _flying(pueblo, "eastside", DOWNTOWN, "returning", 3, battery_pct=22.0)
    rec = recommend(pueblo, DOWNTOWN, on_sortie, airborne={"eastside": low}, priority=1)
    why = next(e for e in rec.excluded if e.station_id == "eastside")
    assert why.kind is ExclusionKind.LOW_BATTERY
    assert why.reason.startswith("battery 22% below the")
