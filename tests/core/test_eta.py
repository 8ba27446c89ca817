"""ETA model: trapezoids that match PX4's measured transit, turn costs, and calibration."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dfr.eta import (
    EtaParameters,
    FlownSortie,
    calibrate,
    estimate,
    profile_time_s,
    return_time_s,
)
from missions.profile import DroneProfile
from missions.route import Fence, Route, Waypoint
from tests.core.conftest import FRAME

DRONE = DroneProfile(
    "d1", "udpin://127.0.0.1:14540", max_speed_m_s=20, cruise_speed_m_s=20, climb_m_s=5
)


def straight(length_m: float, turns: int = 0) -> Route:
    pts = [(0.0, 0.0)]
    for i in range(turns + 1):
        pts.append((length_m * (i + 1) / (turns + 1), 0.0 if i % 2 == 0 else 1.0))
    wps = [Waypoint(*_ll(x, y), 0.0 if i == 0 else 60.0) for i, (x, y) in enumerate(pts)]
    return Route(tuple(wps), length_m, Fence(), wps[-1].point, turn_angles_deg=(0.0,) * turns)


def _ll(x: float, y: float) -> tuple[float, float]:
    p = FRAME.to_geo(x, y)
    return p.latitude_deg, p.longitude_deg


def test_transit_matches_px4_measured_goto() -> None:
    # PX4 SITL: 1,500 m at MPC_XY_CRUISE=20 took 85 s (peak 19.9 m/s).
    assert profile_time_s([1500.0], [], 19.9, 2.1) == pytest.approx(85.0, abs=1.0)


def test_turns_cost_time_and_a_u_turn_stops() -> None:
    base = profile_time_s([500.0, 500.0], [0.0], 20, 2.0)
    right = profile_time_s([500.0, 500.0], [90.0], 20, 2.0)
    uturn = profile_time_s([500.0, 500.0], [180.0], 20, 2.0)
    assert base < right < uturn
    assert uturn == pytest.approx(2 * profile_time_s([500.0], [], 20, 2.0))


def test_eta_adds_launch_climb_and_settle() -> None:
    params = EtaParameters(launch_latency_s=3, takeoff_altitude_m=10, arrival_settle_s=1)
    eta = estimate(straight(1500), DRONE, params)
    assert eta.launch_s == 3
    assert eta.takeoff_s == pytest.approx(2.0)
    assert eta.total_s == pytest.approx(3 + 2 + profile_time_s([1500.0], [], 20, 2.1) + 1, rel=1e-3)
    # A short hop is limited by the climb to cruise altitude, not the horizontal leg.
    hop = estimate(straight(50), DRONE, params)
    assert hop.cruise_s == pytest.approx((60 - 10) / 5)


def test_return_includes_landing() -> None:
    params = EtaParameters(land_speed_m_s=1.0)
    assert return_time_s(straight(1000), DRONE, params) == pytest.approx(
        profile_time_s([1000.0], [], 20, 2.1) + 60.0, rel=1e-3
    )


def test_calibration_recovers_latency_and_acceleration() -> None:
    truth = EtaParameters(launch_latency_s=4.5, horizontal_accel_m_s2=1.6)
    flown = [
        FlownSortie(
            r,
            DRONE,
            dispatch_to_takeoff_s=4.5,
            dispatch_to_on_scene_s=estimate(r, DRONE, truth).total_s,
        )
        for r in (straight(400), straight(900, turns=1), straight(1600))
    ]
    fitted = calibrate(flown, EtaParameters())
    assert fitted.launch_latency_s == 4.5
    assert fitted.horizontal_accel_m_s2 == pytest.approx(1.6, abs=0.01)
    assert calibrate([], replace(truth)) == truth
