"""The MAVSDK contract: what dfr relies on, run against the simulator and (where built) PX4 SITL.

Only MAVSDK is used here, so the same test runs against either backend.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from missions.geo import WGS84_GEOD, GeoPoint
from tests.sitl.conftest import PUEBLO, PUEBLO_ALT_M, Backend
from tests.sitl.mavsdk_client import (
    FenceType,
    FixType,
    FlightMode,
    GeofenceData,
    LandedState,
    MissionItem,
    MissionRawError,
    ParamError,
    Point,
    Polygon,
    System,
    first,
)

FRAME_REL = 6  # MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
FRAME_MISSION = 2  # MAV_FRAME_MISSION: commands without a position
FRAME_GLOBAL = 0


def offset(point: GeoPoint, north_m: float, east_m: float) -> GeoPoint:
    azimuth = math.degrees(math.atan2(east_m, north_m))
    lon, lat, _ = WGS84_GEOD.fwd(
        point.longitude_deg, point.latitude_deg, azimuth, math.hypot(north_m, east_m)
    )
    return GeoPoint(lat, lon)


def item(
    seq: int,
    command: int,
    at: GeoPoint | None = None,
    alt_m: float = 0.0,
    frame: int | None = None,
    **params: float,
) -> MissionItem:
    """A mission item; in PX4's frame for it (a position: relative altitude; else MISSION)."""
    lat = round(at.latitude_deg * 1e7) if at else 0
    lon = round(at.longitude_deg * 1e7) if at else 0
    p = [params.get(f"param{i}", 0.0) for i in range(1, 5)]
    if frame is None:
        frame = FRAME_REL if at is not None else FRAME_MISSION
    return MissionItem(seq, frame, command, 1 if seq == 0 else 0, 1, *p, lat, lon, alt_m, 0)


async def ready_to_arm(drone: System, backend: Backend) -> None:
    await first(drone.telemetry.health(), lambda h: h.is_armable and h.is_global_position_ok,
                backend.wall_s(15))  # fmt: skip


async def take_off(drone: System, backend: Backend, altitude_m: float) -> None:
    await drone.action.set_takeoff_altitude(altitude_m)
    # PX4 sometimes used the old altitude when takeoff followed the set at once: read it back.
    assert await drone.action.get_takeoff_altitude() == pytest.approx(altitude_m)
    await ready_to_arm(drone, backend)
    await drone.action.arm()
    await drone.action.takeoff()
    await first(
        drone.telemetry.position(),
        lambda p: p.relative_altitude_m > altitude_m - 1.0,
        backend.wall_s(60),
    )


async def test_connect_health_and_telemetry(backend: Backend, drone: System) -> None:
    assert await first(drone.telemetry.health_all_ok(), bool, backend.wall_s(15))
    home = await first(drone.telemetry.home(), lambda h: True, backend.wall_s(5))
    assert GeoPoint(home.latitude_deg, home.longitude_deg).distance_m(PUEBLO) < 2.0
    assert home.absolute_altitude_m == pytest.approx(PUEBLO_ALT_M, abs=3.0)
    position = await first(drone.telemetry.position(), lambda p: True, backend.wall_s(5))
    assert GeoPoint(position.latitude_deg, position.longitude_deg).distance_m(PUEBLO) < 2.0
    assert abs(position.relative_altitude_m) < 1.0
    assert await first(drone.telemetry.armed(), lambda a: True, backend.wall_s(5)) is False
    assert await first(drone.telemetry.flight_mode(), lambda m: True, backend.wall_s(5)) is (
        FlightMode.HOLD
    )
    landed = await first(drone.telemetry.landed_state(), lambda s: True, backend.wall_s(5))
    assert landed is LandedState.ON_GROUND
    battery = await first(drone.telemetry.battery(), lambda b: True, backend.wall_s(5))
    assert battery.remaining_percent > 50
    assert battery.voltage_v > 13.0
    gps = await first(drone.telemetry.gps_info(), lambda g: True, backend.wall_s(5))
    assert gps.fix_type is FixType.FIX_3D
    # Every build names its commit; only tagged releases carry a version number (a
    # PX4 built from a snapshot without tags reports 0.0.0).
    version = await drone.info.get_version()
    assert version.flight_sw_major >= 0
    assert version.flight_sw_git_hash.strip("0")


async def test_params_typed_like_px4(backend: Backend, drone: System) -> None:
    assert await drone.param.get_param_float("MPC_XY_CRUISE") == pytest.approx(5.0)
    assert await drone.param.get_param_int("GF_ACTION") == 2
    assert await drone.param.get_param_int("NAV_DLL_ACT") == 0
    with pytest.raises(ParamError):
        await drone.param.get_param_float("GF_ACTION")  # INT32 on PX4
    await drone.param.set_param_float("MPC_XY_CRUISE", 12.0)
    assert await drone.param.get_param_float("MPC_XY_CRUISE") == pytest.approx(12.0)
    await drone.param.set_param_int("GF_ACTION", 3)
    assert await drone.param.get_param_int("GF_ACTION") == 3
    all_params = await drone.param.get_all_params()
    floats = {p.name for p in all_params.float_params}
    ints = {p.name for p in all_params.int_params}
    assert {"MPC_XY_VEL_MAX", "MIS_TAKEOFF_ALT", "RTL_RETURN_ALT", "BAT_LOW_THR"} <= floats
    assert {"GF_ACTION", "NAV_DLL_ACT", "COM_DL_LOSS_T", "COM_LOW_BAT_ACT"} <= ints


async def test_takeoff_goto_land(backend: Backend, drone: System) -> None:
    await drone.param.set_param_float("MPC_XY_CRUISE", 12.0)
    await take_off(drone, backend, 20.0)
    mode = await first(
        drone.telemetry.flight_mode(), lambda m: m is FlightMode.HOLD, backend.wall_s(10)
    )
    assert mode is FlightMode.HOLD
    target = offset(PUEBLO, north_m=200.0, east_m=0.0)
    await drone.action.goto_location(
        target.latitude_deg, target.longitude_deg, PUEBLO_ALT_M + 25.0, float("nan")
    )
    arrived = await first(
        drone.telemetry.position(),
        lambda p: GeoPoint(p.latitude_deg, p.longitude_deg).distance_m(target) < 3.0,
        backend.wall_s(60),
    )
    assert arrived.relative_altitude_m == pytest.approx(25.0, abs=1.5)
    # PX4 flies a goto in HOLD (loiter) mode; arrival is seen from the position.
    assert await first(drone.telemetry.flight_mode(), lambda m: True, 5.0) is FlightMode.HOLD
    await drone.action.land()
    await first(drone.telemetry.landed_state(), lambda s: s is LandedState.LANDING, 10.0)
    await first(drone.telemetry.armed(), lambda armed: not armed, backend.wall_s(90))
    landed = await first(drone.telemetry.landed_state(), lambda s: True, 5.0)
    assert landed is LandedState.ON_GROUND


async def test_mission_and_fence_round_trip(backend: Backend, drone: System) -> None:
    wp1, wp2 = offset(PUEBLO, 150, 0), offset(PUEBLO, 150, 150)
    mission = [
        item(0, 22, PUEBLO, 15.0),  # NAV_TAKEOFF
        item(1, 178, param1=1.0, param2=15.0, param3=-1.0),  # DO_CHANGE_SPEED
        item(2, 16, wp1, 30.0, param2=5.0, param4=float("nan")),  # NAV_WAYPOINT
        item(3, 195, offset(PUEBLO, 300, 300), 0.0),  # DO_SET_ROI_LOCATION
        item(4, 19, wp2, 30.0, param1=2.0),  # NAV_LOITER_TIME
        item(5, 20),  # NAV_RETURN_TO_LAUNCH
    ]
    # PX4 takes a command only in its own kind of frame: a DO command in a global frame
    # is refused whole.
    misframed = [*mission[:1], item(1, 178, param1=1.0, param2=15.0, frame=FRAME_REL)]
    with pytest.raises(MissionRawError, match="UNSUPPORTED"):
        await drone.mission_raw.upload_mission(misframed)
    await drone.mission_raw.upload_mission(mission)
    downloaded = await drone.mission_raw.download_mission()
    assert [(i.seq, i.command, i.frame, i.x, i.y) for i in downloaded] == [
        (i.seq, i.command, i.frame, i.x, i.y) for i in mission
    ]
    assert [i.z for i in downloaded] == pytest.approx([i.z for i in mission])
    zone = [offset(PUEBLO, n, e) for n, e in ((400, -50), (400, 50), (500, 50), (500, -50))]
    area = [
        offset(PUEBLO, n, e)
        for n, e in ((-2000, -2000), (-2000, 2000), (2000, 2000), (2000, -2000))
    ]
    fence = GeofenceData(
        polygons=[
            Polygon([Point(p.latitude_deg, p.longitude_deg) for p in area], FenceType.INCLUSION),
            Polygon([Point(p.latitude_deg, p.longitude_deg) for p in zone], FenceType.EXCLUSION),
        ],
        circles=[],
    )
    await drone.geofence.upload_geofence(fence)
    fence_items = await drone.mission_raw.download_geofence()
    commands = [i.command for i in fence_items]
    assert commands == [5001] * 4 + [5002] * 4
    assert {i.param1 for i in fence_items} == {4.0}
    wp2_lat, wp2_lon = round(wp2.latitude_deg * 1e7), round(wp2.longitude_deg * 1e7)
    rally = MissionItem(0, FRAME_REL, 5100, 0, 1, 0, 0, 0, 0, wp2_lat, wp2_lon, 20.0, 2)
    await drone.mission_raw.upload_rally_points([rally])
    rally_back = await drone.mission_raw.download_rallypoints()
    assert [(i.command, i.x, i.mission_type) for i in rally_back] == [(5100, wp2_lat, 2)]


async def test_goto_into_exclusion_is_accepted_but_ignored(backend: Backend, drone: System) -> None:
    zone = [offset(PUEBLO, n, e) for n, e in ((300, -100), (300, 100), (600, 100), (600, -100))]
    fence = GeofenceData(
        polygons=[
            Polygon([Point(p.latitude_deg, p.longitude_deg) for p in zone], FenceType.EXCLUSION)
        ],
        circles=[],
    )
    await drone.geofence.upload_geofence(fence)
    await take_off(drone, backend, 15.0)
    before = await first(drone.telemetry.position(), lambda p: True, 5.0)
    texts: list[str] = []

    async def collect() -> None:
        async for text in drone.telemetry.status_text():
            texts.append(text.text)

    async with asyncio.TaskGroup() as group:
        collector = group.create_task(collect())
        target = offset(PUEBLO, 450, 0)
        await drone.action.goto_location(
            target.latitude_deg, target.longitude_deg, PUEBLO_ALT_M + 15.0, float("nan")
        )  # accepted: PX4 acks DO_REPOSITION before the navigator checks the fence
        await asyncio.sleep(backend.wall_s(10) - 10.0)
        collector.cancel()
    after = await first(drone.telemetry.position(), lambda p: True, 5.0)
    moved = GeoPoint(before.latitude_deg, before.longitude_deg).distance_m(
        GeoPoint(after.latitude_deg, after.longitude_deg)
    )
    assert moved < 3.0
    assert any("Reposition is outside geofence" in t for t in texts)


async def test_arm_in_mission_mode_switches_to_hold(backend: Backend, drone: System) -> None:
    await drone.mission_raw.upload_mission(
        [item(0, 22, PUEBLO, 10.0), item(1, 16, offset(PUEBLO, 60, 0), 10.0)]
    )
    await ready_to_arm(drone, backend)
    await drone.mission_raw.start_mission()
    await first(drone.telemetry.flight_mode(), lambda m: m is FlightMode.MISSION, 10.0)
    await drone.action.arm()
    # PX4: arming switches MISSION back to HOLD; start the mission after arming.
    await first(drone.telemetry.flight_mode(), lambda m: m is FlightMode.HOLD, 10.0)
    await drone.mission_raw.start_mission()
    progress = await first(
        drone.mission_raw.mission_progress(), lambda p: p.current == p.total == 2,
        backend.wall_s(90),
    )  # fmt: skip
    assert progress.total == 2
    await drone.action.land()
    await first(drone.telemetry.armed(), lambda armed: not armed, backend.wall_s(60))
