"""The built-in simulator as the tests run it: at Pueblo's first station, on free
loopback ports, fast, with its 50 Hz streams at 10 Hz (vehicle time) to spare the CPU."""

from __future__ import annotations

from typing import Any

from dfr.loopback import free_udp_port
from missions.geo import GeoPoint
from sitl.config import SimConfig

#: How much faster than real time the tests fly: vehicles in the test's own process...
SPEED_FACTOR = 20.0
#: ...and a whole server's simulator process, which shares the two cores with the
#: server, its MAVSDK servers and (in the browser tests) Chromium.
SERVER_SPEED_FACTOR = 8.0
#: PX4 SITL keeps up with lockstep at this factor on two cores (three instances: 3).
PX4_SPEED_FACTOR = 2.0

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
