"""Drive a simulated vehicle step by step, without sockets or a clock (deterministic)."""

from __future__ import annotations

import math
from collections.abc import Callable

from missions.geo import GeoPoint
from sitl.config import SimConfig
from sitl.modes import FlightMode
from sitl.navigator import Goal
from sitl.vehicle import SimVehicle

PUEBLO = GeoPoint(38.2544, -104.6091)
FAST = {"MPC_XY_CRUISE": 20.0, "MPC_XY_VEL_MAX": 20.0}


def make_vehicle(**params: float) -> SimVehicle:
    """A vehicle at Pueblo with PX4 defaults plus `params`, not yet booted."""
    return SimVehicle(SimConfig(home=PUEBLO, params=params))


def run_until(vehicle: SimVehicle, predicate: Callable[[SimVehicle], bool], max_s: float) -> float:
    """Step until `predicate(vehicle)`; returns the vehicle time. AssertionError on timeout."""
    steps = int(max_s / vehicle.config.physics_step_s)
    for _ in range(steps):
        vehicle.step()
        if predicate(vehicle):
            return vehicle.now_s
    raise AssertionError(f"condition not met within {max_s} s of vehicle time")


def run_for(vehicle: SimVehicle, seconds: float) -> None:
    for _ in range(round(seconds / vehicle.config.physics_step_s)):
        vehicle.step()


def boot(vehicle: SimVehicle) -> None:
    run_until(vehicle, lambda v: v.commander.preflight_failure() is None, 30.0)


def take_off(vehicle: SimVehicle, altitude_m: float) -> float:
    """Boot, arm, take off to `altitude_m`; returns the vehicle time of arming."""
    boot(vehicle)
    assert vehicle.commander.arm() == 0
    armed_at = vehicle.now_s
    vehicle.commander.takeoff(altitude_m)
    run_until(
        vehicle,
        lambda v: v.commander.mode is FlightMode.HOLD and not v.land_detector.landed,
        120.0,
    )
    return armed_at


def goto(vehicle: SimVehicle, east_m: float, north_m: float, up_m: float | None = None) -> Goal:
    """DO_REPOSITION to a point relative to the current position."""
    a = vehicle.airframe
    goal = Goal(a.x_m + east_m, a.y_m + north_m, a.z_m if up_m is None else up_m)
    assert vehicle.commander.reposition(goal, change_mode=True) == 0
    return goal


def distance_m(vehicle: SimVehicle, goal: Goal) -> float:
    return math.hypot(goal.x_m - vehicle.airframe.x_m, goal.y_m - vehicle.airframe.y_m)
