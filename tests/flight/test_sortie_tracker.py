"""How telemetry drives a sortie, with hand-made snapshots instead of a vehicle."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from missions.drone_state import (
    DroneState,
    FlightMode,
    LandedState,
    Position,
    Severity,
    StatusText,
    VelocityNed,
)
from missions.mission_plan import build_mission
from missions.profile import DroneProfile
from missions.route import Fence, Route, Waypoint
from missions.sortie import Cause, Sortie, SortieState
from missions.sortie_tracker import SortieTracker, TrackerSettings

S = SortieState
NOW = datetime(2026, 11, 21, tzinfo=UTC)
HOME = Waypoint(38.2544, -104.6091, 0.0)
SCENE = Waypoint(38.2680, -104.6091, 60.0)
ROUTE = Route((HOME, SCENE), 1512.0, Fence(), SCENE.point, cruise_altitude_m=60.0)
PLAN = build_mission(ROUTE, DroneProfile("d", "udpin://127.0.0.1:1"), on_scene_s=30.0)
HOME_POS = Position(HOME.latitude_deg, HOME.longitude_deg, 1430.0, 0.0)


def at(lat: float, alt: float, t: float, **kw: object) -> DroneState:
    base = DroneState(
        position=Position(lat, HOME.longitude_deg, 1430.0 + alt, alt),
        home=HOME_POS,
        armed=True,
        flight_mode=FlightMode.MISSION,
        landed_state=LandedState.IN_AIR,
        battery_pct=90.0,
        velocity=VelocityNed(18.0, 0.0, 0.0),
        mission_current=PLAN.loiter_index,
        mission_total=len(PLAN.mission),
        vehicle_time_s=t,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def launched() -> tuple[Sortie, SortieTracker]:
    sortie = Sortie("c1", "north")
    sortie.advance(S.LAUNCHING, Cause.DISPATCH, "", 10.0, NOW)
    sortie.record("armed", Cause.PREFLIGHT, "", 11.0, NOW)
    tracker = SortieTracker(sortie, PLAN, ROUTE, TrackerSettings())
    tracker.expect(FlightMode.MISSION)
    return sortie, tracker


def test_a_flight_goes_through_every_state() -> None:
    sortie, tracker = launched()
    on_dock = at(HOME.latitude_deg, 0.0, 11.5, landed_state=LandedState.ON_GROUND)
    tracker.observe(on_dock, NOW)
    assert sortie.state is S.LAUNCHING
    tracker.observe(at(HOME.latitude_deg, 2.5, 13.0, landed_state=LandedState.ON_GROUND), NOW)
    assert sortie.state is S.EN_ROUTE
    tracker.observe(at(38.2600, 40.0, 50.0), NOW)
    assert sortie.state is S.EN_ROUTE
    tracker.observe(at(SCENE.latitude_deg - 0.00005, 59.0, 90.0), NOW)
    assert sortie.state is S.ON_SCENE
    returning = at(
        SCENE.latitude_deg,
        60.0,
        121.0,
        mission_current=PLAN.rtl_index,
        flight_mode=FlightMode.RETURN_TO_LAUNCH,
    )
    tracker.observe(returning, NOW)
    assert sortie.state is S.RETURNING
    assert not [e for e in sortie.events if e.kind == "failsafe"]
    landed = at(
        HOME.latitude_deg + 0.00003,
        0.0,
        200.0,
        armed=False,
        landed_state=LandedState.ON_GROUND,
        flight_mode=FlightMode.HOLD,
        mission_current=PLAN.rtl_index,
    )
    tracker.observe(landed, NOW)
    assert sortie.state is S.DOCKED
    timeline = sortie.timeline()
    assert (timeline.dispatch_to_takeoff_s, timeline.dispatch_to_on_scene_s) == (3.0, 80.0)
    assert timeline.in_order()
    m = tracker.measurement()
    assert m.max_ground_speed_m_s == 18.0
    assert m.takeoff_to_on_scene_s == 77.0
    assert m.dispatch_to_cruise_altitude_s == 80.0  # 40 m on the way, 59 m over the scene
    assert m.dispatch_to_departure_s == 40.0  # the first fix en route faster than 2 m/s
    assert m.flown_to_scene_m > 1000


def test_uncommanded_rtl_after_a_fence_text_is_a_geofence_failsafe() -> None:
    sortie, tracker = launched()
    tracker.observe(at(38.2560, 20.0, 20.0), NOW)
    text = StatusText(1, Severity.CRITICAL, "Geofence violation! Returning", 29.0)
    breach = at(38.2600, 60.0, 30.0, flight_mode=FlightMode.RETURN_TO_LAUNCH, status_texts=(text,))
    tracker.observe(breach, NOW)
    assert sortie.state is S.RETURNING
    assert sortie.transitions[-1].cause is Cause.GEOFENCE
    kinds = {e.kind: e.cause for e in sortie.events}
    assert kinds["fence_breach"] is Cause.GEOFENCE
    assert kinds["failsafe"] is Cause.GEOFENCE


def test_hold_we_asked_for_is_not_a_failsafe_but_one_we_did_not_is() -> None:
    sortie, tracker = launched()
    tracker.observe(at(38.2560, 20.0, 20.0), NOW)
    tracker.expect(FlightMode.HOLD)
    tracker.observe(at(38.2561, 20.0, 21.0, flight_mode=FlightMode.HOLD), NOW)
    assert not [e for e in sortie.events if e.kind == "failsafe"]
    tracker.expect(FlightMode.MISSION)
    tracker.observe(at(38.2562, 20.0, 22.0), NOW)
    tracker.observe(at(38.2563, 20.0, 23.0, flight_mode=FlightMode.HOLD, battery_pct=12.0), NOW)
    failsafe = [e for e in sortie.events if e.kind == "failsafe"]
    assert [e.cause for e in failsafe] == [Cause.BATTERY]
    assert any(e.kind == "low_battery" for e in sortie.events)
    assert sortie.state is S.EN_ROUTE


def test_rtl_after_a_telemetry_gap_is_blamed_on_the_link() -> None:
    sortie, tracker = launched()
    tracker.observe(at(38.2560, 20.0, 20.0), NOW)
    tracker.link_lost(at(38.2560, 20.0, 20.0), NOW, "no telemetry for 1.5 s")
    restored = at(38.2570, 60.0, 35.0, flight_mode=FlightMode.RETURN_TO_LAUNCH)
    tracker.link_restored(restored, NOW)
    tracker.observe(restored, NOW)
    assert sortie.state is S.RETURNING
    assert sortie.transitions[-1].cause is Cause.LINK
    assert [e.kind for e in sortie.events][-3:] == ["link_lost", "link_restored", "failsafe"]


def test_landing_away_from_the_dock_is_not_docked() -> None:
    sortie, tracker = launched()
    tracker.observe(at(38.2560, 20.0, 20.0), NOW)
    tracker.expect(FlightMode.LAND)
    tracker.observe(at(38.2600, 5.0, 40.0, flight_mode=FlightMode.LAND), NOW)
    tracker.observe(at(38.2600, 0.0, 50.0, armed=False, landed_state=LandedState.ON_GROUND), NOW)
    assert sortie.state is S.LANDED
    assert sortie.events[-1].kind == "landed_away"


def test_a_home_moved_to_the_landing_spot_does_not_make_it_the_dock() -> None:
    # PX4 moves its home to wherever it lands and disarms (COM_HOME_EN).
    sortie, tracker = launched()
    tracker.observe(at(38.2560, 20.0, 20.0), NOW)
    tracker.expect(FlightMode.LAND)
    there = Position(38.2600, HOME.longitude_deg, 1430.0, 0.0)
    down = at(38.2600, 0.0, 50.0, armed=False, landed_state=LandedState.ON_GROUND, home=there)
    tracker.observe(down, NOW)
    assert sortie.state is S.LANDED
    assert sortie.events[-1].kind == "landed_away"


def adopted(recorded: SortieState, state: DroneState) -> Sortie:
    """A sortie a restarted server takes over in `recorded`, the vehicle showing `state`."""
    sortie = Sortie("c1", "north", state=recorded)
    SortieTracker(sortie, PLAN, ROUTE, TrackerSettings()).adopt(state, NOW)
    return sortie


def test_an_adopted_flight_starts_from_what_the_vehicle_shows() -> None:
    en_route = at(38.2600, 60.0, 300.0, mission_current=PLAN.first_waypoint_index)
    assert adopted(S.EN_ROUTE, en_route).state is S.EN_ROUTE
    assert not adopted(S.EN_ROUTE, en_route).transitions
    # It took off while no server watched.
    assert adopted(S.LAUNCHING, en_route).state is S.EN_ROUTE
    # It reached the scene meanwhile.
    assert adopted(S.EN_ROUTE, at(SCENE.latitude_deg, 60.0, 300.0)).state is S.ON_SCENE


def test_an_adopted_flight_found_returning_says_why() -> None:
    by_mission = at(
        38.2600, 60.0, 300.0,
        mission_current=PLAN.rtl_index, flight_mode=FlightMode.RETURN_TO_LAUNCH,
    )  # fmt: skip
    sortie = adopted(S.ON_SCENE, by_mission)
    assert sortie.state is S.RETURNING
    assert sortie.transitions[-1].cause is Cause.MISSION
    on_its_own = replace(
        by_mission, mission_current=PLAN.first_waypoint_index
    )  # the data-link-loss failsafe, say
    sortie = adopted(S.EN_ROUTE, on_its_own)
    assert sortie.state is S.RETURNING
    assert sortie.transitions[-1].cause is Cause.FAILSAFE


def test_an_adopted_flight_takes_the_present_mode_as_expected_and_sees_the_landing() -> None:
    sortie = Sortie("c1", "north", state=S.RETURNING)
    tracker = SortieTracker(sortie, PLAN, ROUTE, TrackerSettings())
    rtl = at(
        38.2550, 30.0, 400.0,
        mission_current=PLAN.rtl_index, flight_mode=FlightMode.RETURN_TO_LAUNCH,
    )  # fmt: skip
    tracker.adopt(rtl, NOW)
    tracker.observe(replace(rtl, vehicle_time_s=401.0), NOW)
    assert not [e for e in sortie.events if e.kind == "failsafe"]
    down = at(
        HOME.latitude_deg + 0.00003, 0.0, 450.0,
        armed=False, landed_state=LandedState.ON_GROUND, flight_mode=FlightMode.HOLD,
    )  # fmt: skip
    tracker.observe(down, NOW)
    assert sortie.state is S.DOCKED
