"""MAVSDK (gRPC generation) for the simulator's conformance tests: one server per vehicle.

`System` spawns its own `mavsdk_server` on the gRPC port it is given; `connect()`
hangs while no vehicle answers and the server outlives the script unless stopped,
so every use goes through `connected_drone`, which bounds the wait and stops it.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from dfr.loopback import free_tcp_port

with warnings.catch_warnings():
    # mavsdk 3.17.4 announces the package rename at import; the API is what we pin.
    warnings.simplefilter("ignore", FutureWarning)
    from mavsdk import System as _MavsdkSystem
    from mavsdk.action import ActionError, OrbitYawBehavior
    from mavsdk.geofence import Circle, FenceType, GeofenceData, Point, Polygon
    from mavsdk.mission_raw import MissionItem, MissionRawError
    from mavsdk.param import ParamError
    from mavsdk.telemetry import FixType, FlightMode, LandedState

__all__ = [
    "ActionError",
    "Circle",
    "FenceType",
    "FixType",
    "FlightMode",
    "GeofenceData",
    "LandedState",
    "MissionItem",
    "MissionRawError",
    "OrbitYawBehavior",
    "ParamError",
    "Point",
    "Polygon",
    "System",
    "connected_drone",
    "first",
]

T = TypeVar("T")


class System(_MavsdkSystem):
    """MAVSDK's System without the finaliser: `connected_drone` stops the server itself,
    and the finaliser's late import fails when it runs during interpreter shutdown."""

    def __del__(self) -> None:
        pass


@asynccontextmanager
async def connected_drone(
    address: str, timeout_s: float = 20.0, wait_for_vehicle: bool = True
) -> AsyncIterator[System]:
    """A MAVSDK System on its own server listening at `address`; stopped on exit."""
    drone = System(mavsdk_server_address=None, port=free_tcp_port())
    try:
        async with asyncio.timeout(timeout_s):
            await drone.connect(system_address=address)
            if wait_for_vehicle:
                async for state in drone.core.connection_state():
                    if state.is_connected:
                        break
        yield drone
    finally:
        drone._stop_mavsdk_server()


async def first(stream: AsyncIterator[T], predicate: Callable[[T], Any], timeout_s: float) -> T:
    """The first item of a MAVSDK stream that satisfies `predicate` (wall-time limit)."""
    async with asyncio.timeout(timeout_s):
        async for item in stream:
            if predicate(item):
                return item
    raise AssertionError("stream ended")
