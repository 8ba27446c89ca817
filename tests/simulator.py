"""The built-in simulator as the tests run it: at Pueblo's first station, on free
loopback ports, fast, with its 50 Hz streams at 10 Hz (vehicle time) to spare the CPU."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from dfr.loopback import free_udp_port
from missions.geo import GeoPoint
from missions.profile import Station
from sitl.config import SimConfig
from sitl.fleet import SimFleet
from sitl.vehicle import SimVehicle

#: How much faster than real time the tests fly: vehicles in the test's own process...
SPEED_FACTOR = 20.0
#: ...and a whole server's simulator process, which shares the two cores with the
#: server, its MAVSDK servers and (in the browser tests) Chromium.
SERVER_SPEED_FACTOR = 8.0
#: PX4 SITL keeps up with lockstep at this factor on two cores (three instances: 3).
PX4_SPEED_FACTOR = 2.0

#: The marks of a test of the PX4 SITL tier: reported as skipped, with the reason, where
#: no PX4 build is named; `PX4` is the "px4" case of a test parametrised over vehicles.
PX4_MARKS = [
    pytest.mark.px4,
    pytest.mark.skipif(
        not os.environ.get("DFR_PX4_DIR"),
        reason="DFR_PX4_DIR not set: the PX4 SITL tier needs a PX4 build",
    ),
]
PX4 = pytest.param("px4", marks=PX4_MARKS)

PUEBLO = GeoPoint(38.2544, -104.6091)
PUEBLO_ALT_M = 1430.0


def sim_config(default_speed_factor: float, **overrides: Any) -> SimConfig:
    """A simulator config at `default_speed_factor` times real time; `overrides`
    (a `speed_factor` among them) win."""
    settings: dict[str, Any] = {
        "home": PUEBLO,
        "home_alt_amsl_m": PUEBLO_ALT_M,
        "speed_factor": default_speed_factor,
        "api_port": free_udp_port(),
        "local_port": 0,
        "fast_stream_hz": 10.0,
    }
    settings.update(overrides)
    return SimConfig(**settings)


class InProcessVehicles:
    """A vehicle provider (`dfr.services.VehicleProvider`) whose simulated vehicles run in
    the test's own event loop, so the test can reach them (fault injection). `homes`
    puts a station's vehicle somewhere other than on its dock."""

    def __init__(
        self, speed_factor: float = SPEED_FACTOR, homes: dict[str, GeoPoint] | None = None
    ) -> None:
        self.speed_factor = speed_factor
        self.homes = homes or {}
        self.by_station: dict[str, SimVehicle] = {}

    @contextlib.asynccontextmanager
    async def __call__(self, stations: Sequence[Station]) -> AsyncIterator[Sequence[Station]]:
        configs = [
            sim_config(
                self.speed_factor,
                home=self.homes.get(s.id, s.position),
                home_alt_amsl_m=s.ground_alt_amsl_m,
                instance=i,
                hover_endurance_s=s.drone.endurance_s,
            )
            for i, s in enumerate(stations)
        ]
        async with SimFleet.running(configs) as sim:
            self.by_station = {s.id: v for s, v in zip(stations, sim.vehicles, strict=True)}
            yield [
                replace(s, drone=replace(s.drone, mavlink=v.mavlink_address))
                for s, v in zip(stations, sim.vehicles, strict=True)
            ]
