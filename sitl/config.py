"""How one simulated vehicle is set up: where it stands, how fast time runs, its ports.

Ports follow PX4 SITL: instance N sends its API stream to 127.0.0.1:(14540+N)
from local port 14580+N, and answers whoever talks to it. Tests pass their own free
ports. The simulator binds 127.0.0.1 only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from missions.geo import GeoPoint

LOOPBACK = "127.0.0.1"
API_PORT_BASE = 14540
LOCAL_PORT_BASE = 14580


@dataclass(frozen=True, slots=True)
class SimConfig:
    """One vehicle's setup. Times are vehicle time unless a name says wall.

    `api_port` is where the stream goes (MAVSDK listens there); `local_port` is the
    vehicle's own socket (0 picks a free one). `speed_factor` is vehicle seconds per
    wall second. `fast_stream_hz` is the rate of the ~50 Hz PX4 streams (ATTITUDE,
    ATTITUDE_QUATERNION, GLOBAL_POSITION_INT, LOCAL_POSITION_NED); lower it to save
    CPU at high speed factors. `px4_extra_streams` adds PX4's other 50 Hz streams
    (ATTITUDE_TARGET, POSITION_TARGET_LOCAL_NED, SERVO_OUTPUT_RAW) that MAVSDK does
    not use. `params` overrides PX4 defaults at boot, like PX4_PARAM_<NAME>.
    `health_ok_after_s` / `armable_after_s` are when the estimator reports healthy
    and when arming is first accepted; `mission_holdoff_s` makes MISSION mode refused
    for that long after an upload, as PX4 sometimes does (0: off).
    """

    home: GeoPoint
    home_alt_amsl_m: float = 1430.0
    instance: int = 0
    speed_factor: float = 1.0
    api_port: int | None = None
    local_port: int | None = None
    physics_step_s: float = 0.02
    fast_stream_hz: float = 50.0
    px4_extra_streams: bool = False
    params: Mapping[str, float] = field(default_factory=dict)
    heading_deg: float = 0.0
    wind_north_m_s: float = 0.0
    wind_east_m_s: float = 0.0
    hover_endurance_s: float = 2400.0
    health_ok_after_s: float = 5.5
    armable_after_s: float = 5.5
    mission_holdoff_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.instance < 254:
            raise ValueError(f"instance must be in [0, 253], got {self.instance}")
        if not (math.isfinite(self.speed_factor) and 0 < self.speed_factor <= 1000):
            raise ValueError(f"speed_factor must be in (0, 1000], got {self.speed_factor}")
        if not 0.001 <= self.physics_step_s <= 0.1:
            raise ValueError(f"physics_step_s must be in [0.001, 0.1], got {self.physics_step_s}")
        if self.fast_stream_hz <= 0:
            raise ValueError(f"fast_stream_hz must be positive, got {self.fast_stream_hz}")
        for name in ("api_port", "local_port"):
            port = getattr(self, name)
            if port is not None and not 0 <= port <= 65535:
                raise ValueError(f"{name} must be a UDP port, got {port}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def system_id(self) -> int:
        return self.instance + 1

    @property
    def resolved_api_port(self) -> int:
        return API_PORT_BASE + self.instance if self.api_port is None else self.api_port

    @property
    def resolved_local_port(self) -> int:
        return LOCAL_PORT_BASE + self.instance if self.local_port is None else self.local_port

    @property
    def mavlink_address(self) -> str:
        """Where MAVSDK should listen for this vehicle, as MAVSDK spells it."""
        return f"udpin://{LOOPBACK}:{self.resolved_api_port}"
