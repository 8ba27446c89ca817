"""Fixtures for the simulator suite: the PX4 profile, free ports, backends, MAVSDK drones.

The contract tests run against a `Backend`: the built-in simulator (always) or PX4
SITL (only where DFR_PX4_DIR names a build; skipped otherwise).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sitl.config import SimConfig
from sitl.fleet import SimFleet
from sitl.vehicle import SimVehicle
from tests import simulator
from tests.sitl.mavsdk_client import System, connected_drone

PROFILE_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "sitl" / "px4_profile.json"
PUEBLO = simulator.PUEBLO
PUEBLO_ALT_M = simulator.PUEBLO_ALT_M
SIM_SPEED = simulator.SPEED_FACTOR
PX4_SPEED = simulator.PX4_SPEED_FACTOR


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # mavsdk 3.17.4 locates its server binary with a deprecated importlib API.
    here = Path(__file__).parent
    for test in items:
        if Path(test.path).is_relative_to(here):
            test.add_marker(
                pytest.mark.filterwarnings("ignore:path is deprecated:DeprecationWarning")
            )


@pytest.fixture(scope="session")
def profile() -> dict[str, Any]:
    """The compact PX4 SITL profile (see sitl/tlog_profile.py)."""
    return json.loads(PROFILE_PATH.read_text())


@dataclass
class Backend:
    """A vehicle MAVSDK can reach; `sim` is the simulator when there is one (ground truth)."""

    name: str
    address: str
    speed_factor: float
    sim: SimVehicle | None = None

    def wall_s(self, vehicle_s: float) -> float:
        """A generous wall-time limit for something that takes `vehicle_s` of vehicle time."""
        return vehicle_s / self.speed_factor * 2.0 + 10.0


def sim_config(**overrides: Any) -> SimConfig:
    """A simulator config on free ports, fast, with the 50 Hz streams at 10 Hz."""
    return simulator.sim_config(SIM_SPEED, **overrides)


@pytest.fixture(params=["sim", pytest.param("px4", marks=pytest.mark.px4)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "sim":
        async with SimFleet.single(sim_config()) as vehicle:
            yield Backend("sim", vehicle.mavlink_address, SIM_SPEED, vehicle)
        return
    if not os.environ.get("DFR_PX4_DIR"):
        pytest.skip("DFR_PX4_DIR not set")
    from sitl.px4_launcher import px4_sitl

    async with px4_sitl([(PUEBLO, PUEBLO_ALT_M)], speed_factor=PX4_SPEED) as addresses:
        yield Backend("px4", addresses[0], PX4_SPEED)


@pytest.fixture
async def drone(backend: Backend) -> AsyncIterator[System]:
    async with connected_drone(backend.address) as system:
        yield system


@pytest.fixture
async def sim() -> AsyncIterator[SimVehicle]:
    """A simulated vehicle at SIM_SPEED (no MAVSDK)."""
    async with SimFleet.single(sim_config()) as vehicle:
        yield vehicle
