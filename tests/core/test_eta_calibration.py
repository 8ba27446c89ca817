"""Each drone's ETA figures from its own flights: the floor, outliers, bounds, the last N
flights, which sorties count, and the figures kept in a real SQLite file across a restart."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dfr.deployment import Deployment, DeploymentError, load_deployment
from dfr.eta import EtaParameters, calibrate, estimate
from dfr.eta_calibration import (
    CalibrationPolicy,
    DroneEta,
    FlownSample,
    flown_sample,
    interruption,
    refit,
)
from dfr.fleet_eta import FleetEta, UnknownDrone
from dfr.recommend import recommend
from dfr.store import Store
from missions.geo import GeoPoint
from missions.profile import DroneProfile
from missions.route import Fence, Route, Waypoint
from missions.sortie import Cause, Sortie, SortieEvent, SortieState, SortieTimeline, Transition
from tests.deployments import edited_pueblo

S = SortieState
DEFAULTS = EtaParameters(launch_latency_s=4.4, horizontal_accel_m_s2=1.65)
#: How this drone really flies: slower to launch, gentler to accelerate.
TRUTH = EtaParameters(launch_latency_s=6.0, horizontal_accel_m_s2=1.2)
DRONE = DroneProfile("dfr-1", "", max_speed_m_s=20, cruise_speed_m_s=18, climb_m_s=5)
POLICY = CalibrationPolicy(min_flights=5, kept_flights=20)
#: Routes of every kind: short hops, long straight legs, doglegs around no-fly zones.
ROUTES = (
    ((400.0,), ()),
    ((900.0,), ()),
    ((1500.0,), ()),
    ((600.0, 500.0), (40.0,)),
    ((700.0, 300.0, 800.0), (90.0, 30.0)),
    ((2100.0,), ()),
    ((350.0, 900.0), (120.0,)),
    ((1200.0,), ()),
)


def route(legs_m: tuple[float, ...], turns_deg: tuple[float, ...]) -> Route:
    home, scene = Waypoint(38.2659, -104.6097, 0.0), Waypoint(38.2590, -104.6050, 60.0)
    return Route(
        (home, scene),
        sum(legs_m),
        Fence(),
        scene.point,
        cruise_altitude_m=60.0,
        turn_angles_deg=turns_deg,
        legs_m=legs_m,
    )


def sample(
    i: int, truth: EtaParameters = TRUTH, late_s: float = 0.0, noise_s: float = 0.0
) -> FlownSample:
    """The i-th flight of dfr-1 as `truth` flies it, `late_s` late at the scene."""
    r = route(*ROUTES[i % len(ROUTES)])
    arrival_s = estimate(r, DRONE, truth).total_s
    return FlownSample(
        "dfr-1",
        i + 1,
        r.legs_m,
        r.turn_angles_deg,
        r.cruise_altitude_m,
        DRONE.cruise_speed_m_s,
        DRONE.climb_m_s,
        dispatch_to_takeoff_s=truth.launch_latency_s + noise_s / 4,
        dispatch_to_on_scene_s=arrival_s + late_s + noise_s,
    )


def flight(
    takeoff_s: float,
    on_scene_s: float,
    events: tuple[tuple[str, Cause, float], ...] = (),
    detour: bool = False,
    fault: bool = False,
) -> tuple[SortieTimeline, list[Transition], list[SortieEvent]]:
    """A finished sortie, dispatched at vehicle time 100 s; `events` at seconds after it."""
    now = datetime.now(UTC)
    s = Sortie("1", "hq")
    s.advance(S.LAUNCHING, Cause.DISPATCH, "call 1", 100.0, now)
    s.record("upload_verified", Cause.PREFLIGHT, "", 100.5, now)
    s.record("armed", Cause.PREFLIGHT, "", 101.0, now)
    s.advance(S.EN_ROUTE, Cause.TELEMETRY, "takeoff detected", 100.0 + takeoff_s, now)
    for kind, cause, at_s in events:
        s.record(kind, cause, kind, 100.0 + at_s, now)
    if detour:
        s.advance(S.RETURNING, Cause.PILOT, "pilot: return", 100.0 + takeoff_s + 5, now)
        s.advance(S.EN_ROUTE, Cause.PILOT, "resumed the mission", 100.0 + takeoff_s + 9, now)
    s.advance(S.ON_SCENE, Cause.MISSION, "at the target", 100.0 + on_scene_s, now)
    s.record("pilot_orbit", Cause.PILOT, "orbit 50 m", 100.0 + on_scene_s + 20, now)
    s.advance(S.RETURNING, Cause.MISSION, "mission complete", 100.0 + on_scene_s + 60, now)
    s.advance(S.LANDED, Cause.TELEMETRY, "on the ground", 100.0 + on_scene_s + 200, now)
    if fault:
        s.advance(
            S.FAULT, Cause.TELEMETRY, "landed 300 m from the dock", 100 + on_scene_s + 201, now
        )
    else:
        s.advance(S.DOCKED, Cause.DOCK, "2 m from the dock", 100.0 + on_scene_s + 201, now)
    return s.timeline(), s.transitions, s.events


# -- the fit --------------------------------------------------------------------------


def test_the_deployments_figures_until_the_floor_of_flights() -> None:
    four = refit([sample(i) for i in range(4)], DEFAULTS, POLICY)
    assert four == DroneEta(DEFAULTS, calibrated=False, flights=0, kept=4)
    five = refit([sample(i) for i in range(5)], DEFAULTS, POLICY)
    assert five.calibrated
    assert five.flights == 5
    assert five.params.launch_latency_s == pytest.approx(TRUTH.launch_latency_s, abs=0.01)
    assert five.params.horizontal_accel_m_s2 == pytest.approx(1.2, abs=0.01)
    # What is not fitted stays the deployment's.
    assert five.params.takeoff_altitude_m == DEFAULTS.takeoff_altitude_m


def test_noisy_flights_give_the_drones_own_figures() -> None:
    rng = random.Random(11)
    flown = [sample(i, noise_s=rng.uniform(-1.0, 1.0)) for i in range(12)]
    fitted = refit(flown, DEFAULTS, POLICY)
    assert fitted.calibrated
    assert fitted.params.launch_latency_s == pytest.approx(6.0, abs=0.3)
    assert fitted.params.horizontal_accel_m_s2 == pytest.approx(1.2, abs=0.15)


def test_flights_held_on_the_way_do_not_poison_the_fit() -> None:
    # Two of ten flights arrived 40 s late (a hold nobody recorded, a headwind): a plain
    # least-squares fit drags the acceleration down; the robust refit drops them.
    flown = [sample(i, late_s=40.0 if i in (3, 7) else 0.0) for i in range(10)]
    plain = calibrate([f.replay() for f in flown], DEFAULTS)
    assert plain.horizontal_accel_m_s2 < 1.0
    fitted = refit(flown, DEFAULTS, POLICY)
    assert fitted.flights == 8
    assert fitted.kept == 10
    assert fitted.params.horizontal_accel_m_s2 == pytest.approx(1.2, abs=0.01)
    assert fitted.params.launch_latency_s == pytest.approx(6.0, abs=0.01)


def test_too_few_consistent_flights_keep_the_deployments_figures() -> None:
    flown = [sample(i, late_s=[0, 30, 60, 90, 120, 0][i]) for i in range(6)]
    assert refit(flown, DEFAULTS, POLICY) == DroneEta(DEFAULTS, kept=6)


def test_two_flights_that_disagree_both_count() -> None:
    # With two flights neither is the odd one out: a floor of two calibrates from both.
    policy = CalibrationPolicy(min_flights=2, kept_flights=5)
    flown = [sample(0), sample(1, late_s=12.0)]
    fitted = refit(flown, DEFAULTS, policy)
    assert (fitted.calibrated, fitted.flights, fitted.kept) == (True, 2, 2)


def test_fitted_figures_stay_within_bounds() -> None:
    sluggish = EtaParameters(launch_latency_s=75.0, horizontal_accel_m_s2=0.2)
    fitted = refit([sample(i, sluggish) for i in range(6)], DEFAULTS, POLICY)
    assert fitted.params.launch_latency_s == 30.0
    assert fitted.params.horizontal_accel_m_s2 == pytest.approx(0.5, abs=0.01)
    rocket = EtaParameters(launch_latency_s=0.1, horizontal_accel_m_s2=15.0)
    fitted = refit([sample(i, rocket) for i in range(6)], DEFAULTS, POLICY)
    assert fitted.params.launch_latency_s == 0.5
    assert fitted.params.horizontal_accel_m_s2 == pytest.approx(8.0, abs=0.01)


def test_only_the_last_flights_count() -> None:
    policy = CalibrationPolicy(min_flights=3, kept_flights=5)
    later = EtaParameters(launch_latency_s=3.0, horizontal_accel_m_s2=2.5)
    flown = [sample(i) for i in range(5)] + [sample(i, later) for i in range(5, 10)]
    fitted = refit(flown, DEFAULTS, policy)
    assert fitted.kept == 5
    assert fitted.params.launch_latency_s == pytest.approx(3.0, abs=0.01)
    assert fitted.params.horizontal_accel_m_s2 == pytest.approx(2.5, abs=0.01)


def test_a_policy_must_keep_its_floor() -> None:
    with pytest.raises(ValueError, match="min_flights"):
        CalibrationPolicy(min_flights=10, kept_flights=5)


# -- which sorties count ------------------------------------------------------------------


def test_a_sortie_straight_to_the_scene_counts() -> None:
    timeline, transitions, events = flight(6.0, 80.0)
    assert interruption(timeline, transitions, events) is None  # the orbit came after
    got = flown_sample("dfr-1", 9, route((900.0,), ()), DRONE, timeline)
    assert (got.dispatch_to_takeoff_s, got.dispatch_to_on_scene_s) == (6.0, 80.0)
    assert got.legs_m == (900.0,)


@pytest.mark.parametrize(
    ("events", "detour", "why"),
    [
        ((("pilot_hold", Cause.PILOT, 30.0), ("pilot_resume", Cause.PILOT, 50.0)), False, "hold"),
        ((("pilot_reposition", Cause.PILOT, 30.0),), False, "reposition"),
        ((("failsafe", Cause.LINK, 30.0),), False, "failsafe"),
        ((("link_lost", Cause.LINK, 40.0),), False, "link_lost"),
        ((), True, "did not fly straight"),
    ],
)
def test_an_interrupted_sortie_does_not_count(events, detour, why) -> None:
    timeline, transitions, sortie_events = flight(6.0, 80.0, events, detour)
    reason = interruption(timeline, transitions, sortie_events)
    assert reason is not None
    assert why in reason


def test_a_sortie_that_never_reached_the_scene_or_faulted_does_not_count() -> None:
    now = datetime.now(UTC)
    s = Sortie("1", "hq")
    s.advance(S.LAUNCHING, Cause.DISPATCH, "", 100.0, now)
    s.advance(S.ABORTED, Cause.PILOT, "pilot abort", 102.0, now)
    assert "reach the scene" in (interruption(s.timeline(), s.transitions, s.events) or "")
    timeline, transitions, events = flight(6.0, 80.0, fault=True)
    assert "fault" in (interruption(timeline, transitions, events) or "")


# -- kept in the store ---------------------------------------------------------------------


def with_floor(pueblo: Deployment, min_flights: int) -> Deployment:
    return replace(pueblo, eta_calibration=CalibrationPolicy(min_flights, kept_flights=20))


async def learn(fleet_eta: FleetEta, i: int, late_s: float = 0.0, **kw: object) -> object:
    r = route(*ROUTES[i % len(ROUTES)])
    arrival_s = estimate(r, DRONE, TRUTH).total_s + late_s
    timeline, transitions, events = flight(TRUTH.launch_latency_s, arrival_s, **kw)  # type: ignore[arg-type]
    return await fleet_eta.learn("dfr-1", i + 1, r, DRONE, timeline, transitions, events)


async def test_a_drones_figures_survive_a_restart(store_url, pueblo: Deployment) -> None:
    deployment = with_floor(pueblo, 3)
    db = store_url
    async with Store.open(db) as store:
        fleet_eta = await FleetEta.open(deployment, store)
        assert fleet_eta.of("dfr-1") == DroneEta(pueblo.eta)
        held = (("pilot_hold", Cause.PILOT, 20.0),)
        assert await learn(fleet_eta, 0, events=held) is None  # no sample
        for i in range(2):
            await learn(fleet_eta, i)
        assert fleet_eta.of("dfr-1") == DroneEta(pueblo.eta, kept=2)
        third = await learn(fleet_eta, 2)
        assert isinstance(third, DroneEta)
        assert third.calibrated
        assert third.flights == 3
        assert third.params.launch_latency_s == pytest.approx(6.0)
        assert third.params.horizontal_accel_m_s2 == pytest.approx(1.2, abs=0.01)
        assert fleet_eta.of("dfr-2") == DroneEta(pueblo.eta)  # the others fly by the defaults
        changes = [e for e in await store.audit_log() if e.action == "eta.calibration"]
        assert [(e.actor, e.subject) for e in changes] == [("system", "drone:dfr-1")]
        assert changes[0].details["calibrated"] is True
        assert changes[0].details["before"]["calibrated"] is False
    async with Store.open(db) as store:
        again = await FleetEta.open(deployment, store)
        assert again.of("dfr-1") == third
        view = again.view("dfr-1")
        assert view["calibrated"] is True
        assert view["flights"] == 3
        assert view["deployment"]["launch_latency_s"] == pueblo.eta.launch_latency_s
        with pytest.raises(UnknownDrone):
            again.view("dfr-99")


async def test_the_last_n_samples_are_kept_in_the_file(store_url, pueblo: Deployment) -> None:
    deployment = replace(pueblo, eta_calibration=CalibrationPolicy(min_flights=2, kept_flights=3))
    async with Store.open(store_url) as store:
        fleet_eta = await FleetEta.open(deployment, store)
        for i in range(5):
            await learn(fleet_eta, i)
        kept = await fleet_eta.samples("dfr-1")
        assert [s.sortie_id for s in kept] == [3, 4, 5]
        assert fleet_eta.of("dfr-1").kept == 3


def test_recommend_ranks_a_drone_by_its_own_figures(pueblo: Deployment) -> None:
    scene = GeoPoint(38.2544, -104.6091)
    slow = replace(pueblo.eta, launch_latency_s=30.0)
    plain = recommend(pueblo, scene)
    mine = recommend(pueblo, scene, drone_eta={"dfr-1": DroneEta(slow, True, 7, 9)})
    before = next(c for c in plain.candidates if c.drone_id == "dfr-1")
    after = next(c for c in mine.candidates if c.drone_id == "dfr-1")
    assert after.eta_s == pytest.approx(before.eta_s + 30.0 - pueblo.eta.launch_latency_s)
    assert (after.as_json()["eta_calibrated"], after.as_json()["eta_flights"]) == (True, 7)
    assert (before.as_json()["eta_calibrated"], before.as_json()["eta_flights"]) == (False, 0)
    others = {c.drone_id: c.eta_s for c in plain.candidates if c.drone_id != "dfr-1"}
    assert {c.drone_id: c.eta_s for c in mine.candidates if c.drone_id != "dfr-1"} == others


def test_the_deployment_sets_the_floor(tmp_path: Path) -> None:
    (tmp_path / "two").mkdir()
    path = edited_pueblo(
        tmp_path / "two", r"^calibrate_after_flights = .*$", "calibrate_after_flights = 2"
    )
    deployment = load_deployment(path)
    assert deployment.eta_calibration.min_flights == 2
    assert deployment.eta_calibration.kept_flights == 20
    (tmp_path / "short").mkdir()
    path = edited_pueblo(
        tmp_path / "short", r"^calibration_flights_kept = .*$", "calibration_flights_kept = 4"
    )
    with pytest.raises(DeploymentError, match="calibration_flights_kept must be at least"):
        load_deployment(path)
