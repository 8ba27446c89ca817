"""The MAVLink side of a sortie: PX4 parameters, mission items and fence items, and their check.

Pure: builds plain values from a `Route` and a `DroneProfile`; the drone link
uploads them and reads them back, and `item_differences` / `param_differences`
say whether what the vehicle holds is what we sent.

Mission layout (indices are in `MissionPlan`)::

    0  NAV_TAKEOFF            station, low altitude (climb continues en route)
    1  DO_CHANGE_SPEED        ground speed = the profile's max speed
    2… NAV_WAYPOINT           one per turn point of the route, cruise altitude
    k  DO_SET_ROI_LOCATION    the scene (point of interest), camera on it
    k+1 NAV_LOITER_TIME       the target (scene or stand-off), on-scene seconds
                              (NAV_LOITER_UNLIM when no time is given)
    k+2 NAV_RETURN_TO_LAUNCH  home and land

PX4 slows down at every intermediate waypoint, so there are exactly as many
NAV_WAYPOINTs as the route has turn points, and the takeoff item is low so the
vehicle climbs to cruise altitude while it already flies toward the scene.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Protocol

from missions.profile import DroneProfile
from missions.route import Fence, Route

# MAV_FRAME
FRAME_GLOBAL = 0
FRAME_MISSION = 2
FRAME_GLOBAL_RELATIVE_ALT = 3
FRAME_GLOBAL_INT = 5
FRAME_GLOBAL_RELATIVE_ALT_INT = 6

DEG_E7 = 1e7
#: Takeoff item altitude: low, so the climb to cruise happens along the way.
TAKEOFF_ALTITUDE_M = 10.0
#: Touch-down speed cap: the final metres onto a dock stay gentle even for fast descents.
LAND_SPEED_MAX_M_S = 1.0
#: Distance within which PX4 considers a waypoint reached (NAV_WAYPOINT param2).
ACCEPTANCE_RADIUS_M = 5.0


class MavCmd(IntEnum):
    """The MAV_CMD values dfr uses (MAVLink common.xml)."""

    NAV_WAYPOINT = 16
    NAV_LOITER_UNLIM = 17
    NAV_LOITER_TIME = 19
    NAV_RETURN_TO_LAUNCH = 20
    NAV_LAND = 21
    NAV_TAKEOFF = 22
    DO_ORBIT = 34
    DO_CHANGE_SPEED = 178
    DO_SET_ROI_LOCATION = 195
    DO_SET_ROI_NONE = 197
    MISSION_START = 300
    NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
    NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
    NAV_FENCE_CIRCLE_INCLUSION = 5003
    NAV_FENCE_CIRCLE_EXCLUSION = 5004


class MissionType(IntEnum):
    """MAV_MISSION_TYPE: which of the vehicle's three lists an item belongs to."""

    MISSION = 0
    FENCE = 1
    RALLY = 2


class GeofenceAction(IntEnum):
    """PX4 GF_ACTION values."""

    NONE = 0
    WARNING = 1
    HOLD = 2
    RETURN = 3
    TERMINATE = 4
    LAND = 5


class LowBatteryAction(IntEnum):
    """PX4 COM_LOW_BAT_ACT values (0 only warns: a drone must not fly on until empty)."""

    WARNING = 0
    LAND = 2
    RETURN_THEN_LAND = 3  # return at the critical level, land at the emergency level


class LinkLossAction(IntEnum):
    """PX4 NAV_DLL_ACT values."""

    DISABLED = 0
    HOLD = 1
    RETURN = 2
    LAND = 3


@dataclass(frozen=True, slots=True)
class MissionItem:
    """One MISSION_ITEM_INT: `x`/`y` are latitude/longitude in degrees * 1e7."""

    seq: int
    command: int
    frame: int = FRAME_MISSION
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0
    y: int = 0
    z: float = 0.0
    mission_type: int = MissionType.MISSION
    autocontinue: bool = True

    @property
    def latitude_deg(self) -> float:
        return self.x / DEG_E7

    @property
    def longitude_deg(self) -> float:
        return self.y / DEG_E7


class ParamType(Enum):
    """How PX4 stores a parameter; MAVLink's PARAM_VALUE carries both as float32 bits."""

    INT32 = "int32"
    FLOAT = "float"


@dataclass(frozen=True, slots=True)
class ParamSetting:
    name: str
    value: float
    type: ParamType

    def matches(self, actual: float) -> bool:
        """True if `actual` read back from the vehicle is this value (float32 tolerance)."""
        if self.type is ParamType.INT32:
            return int(actual) == int(self.value) and float(actual).is_integer()
        return _float32_equal(self.value, actual)


@dataclass(frozen=True, slots=True)
class FlightSettings:
    """Deployment-level choices that are not properties of a drone.

    The fence action defaults to HOLD: PX4 stops at the boundary (after an overshoot)
    and waits for the pilot, while RETURN keeps flying for COM_FAIL_ACT_T first and
    ends far deeper inside the zone. Link loss returns home; a critically low
    battery returns home and an emergency-low one lands where it is.

    `link_loss_timeout_s` (PX4 COM_DL_LOSS_T, 5..300 s) is how long the vehicle
    flies on without hearing dfr before `link_loss_action`: 30 s keeps a drone on
    scene through a short server restart, where PX4's own 10 s would send it home.
    """

    geofence_action: GeofenceAction = GeofenceAction.HOLD
    link_loss_action: LinkLossAction = LinkLossAction.RETURN
    link_loss_timeout_s: int = 30
    low_battery_action: LowBatteryAction = LowBatteryAction.RETURN_THEN_LAND
    takeoff_altitude_m: float = TAKEOFF_ALTITUDE_M


@dataclass(frozen=True, slots=True)
class MissionPlan:
    """Everything uploaded for one sortie, and where the interesting items sit."""

    params: tuple[ParamSetting, ...]
    mission: tuple[MissionItem, ...]
    fence: tuple[MissionItem, ...]
    takeoff_index: int
    first_waypoint_index: int
    roi_index: int
    loiter_index: int
    rtl_index: int
    cruise_altitude_m: float
    on_scene_s: float | None

    @property
    def loiter_item(self) -> MissionItem:
        return self.mission[self.loiter_index]


@dataclass(frozen=True, slots=True)
class Difference:
    """One mismatch between what was sent and what the vehicle holds."""

    seq: int | None
    field: str
    expected: object
    actual: object

    def __str__(self) -> str:
        where = "" if self.seq is None else f"item {self.seq} "
        return f"{where}{self.field}: expected {self.expected!r}, got {self.actual!r}"


def build_params(
    route: Route, profile: DroneProfile, settings: FlightSettings = FlightSettings()
) -> tuple[ParamSetting, ...]:
    """PX4 parameters that make the vehicle fly the profile, applied before each sortie.

    >>> from missions.profile import DroneProfile
    >>> from missions.route import Route, Waypoint, Fence
    >>> from missions.geo import GeoPoint
    >>> r = Route((Waypoint(38.0, -104.0, 0.0), Waypoint(38.01, -104.0, 60.0)), 1100.0,
    ...           Fence(), GeoPoint(38.01, -104.0))
    >>> {p.name: p.value for p in build_params(r, DroneProfile("d1", "udpin://:1"))}["RTL_RETURN_ALT"]
    60.0
    """
    top_speed = float(profile.max_speed_m_s)
    speed = float(min(profile.cruise_speed_m_s, profile.max_speed_m_s))
    climb = float(profile.climb_m_s)
    descent = float(profile.descent_m_s)
    accel = float(profile.acceleration_m_s2)
    f, i = ParamType.FLOAT, ParamType.INT32
    return (
        ParamSetting("MPC_XY_VEL_MAX", top_speed, f),
        ParamSetting("MPC_XY_CRUISE", speed, f),
        ParamSetting("MPC_ACC_HOR_MAX", accel, f),
        ParamSetting("MPC_ACC_HOR", accel, f),
        ParamSetting("MPC_Z_VEL_MAX_UP", climb, f),
        ParamSetting("MPC_Z_V_AUTO_UP", climb, f),
        ParamSetting("MPC_TKO_SPEED", climb, f),
        ParamSetting("MPC_Z_VEL_MAX_DN", descent, f),
        ParamSetting("MPC_Z_V_AUTO_DN", descent, f),
        ParamSetting("MPC_LAND_SPEED", min(descent, LAND_SPEED_MAX_M_S), f),
        ParamSetting("MIS_TAKEOFF_ALT", _takeoff_altitude_m(route, settings), f),
        ParamSetting("RTL_RETURN_ALT", float(route.cruise_altitude_m), f),
        ParamSetting("NAV_DLL_ACT", float(settings.link_loss_action), i),
        ParamSetting("COM_DL_LOSS_T", float(settings.link_loss_timeout_s), i),
        ParamSetting("GF_ACTION", float(settings.geofence_action), i),
        ParamSetting("COM_LOW_BAT_ACT", float(settings.low_battery_action), i),
    )


def build_mission(
    route: Route,
    profile: DroneProfile,
    on_scene_s: float | None,
    settings: FlightSettings = FlightSettings(),
) -> MissionPlan:
    """The whole upload for one sortie; `on_scene_s=None` loiters until told otherwise.

    Raises ValueError for a route without a target or a negative on-scene time.
    """
    if len(route.waypoints) < 2:
        raise ValueError("a route needs the station and a target")
    if on_scene_s is not None and on_scene_s < 0:
        raise ValueError(f"on_scene_s must be >= 0, got {on_scene_s}")
    home, *turns, target = route.waypoints
    items: list[MissionItem] = []

    def add(command: MavCmd, **fields: float | int) -> int:
        items.append(MissionItem(seq=len(items), command=command, **fields))  # type: ignore[arg-type]
        return len(items) - 1

    nan = math.nan
    takeoff = add(
        MavCmd.NAV_TAKEOFF,
        frame=FRAME_GLOBAL_RELATIVE_ALT_INT,
        param4=nan,
        x=_e7(home.latitude_deg),
        y=_e7(home.longitude_deg),
        z=_takeoff_altitude_m(route, settings),
    )
    cruise = min(profile.cruise_speed_m_s, profile.max_speed_m_s)
    add(MavCmd.DO_CHANGE_SPEED, param1=1.0, param2=float(cruise), param3=-1.0)
    first_wp = len(items)
    for wp in turns:
        add(
            MavCmd.NAV_WAYPOINT,
            frame=FRAME_GLOBAL_RELATIVE_ALT_INT,
            param2=ACCEPTANCE_RADIUS_M,
            param4=nan,
            x=_e7(wp.latitude_deg),
            y=_e7(wp.longitude_deg),
            z=float(wp.relative_altitude_m),
        )
    poi = route.point_of_interest
    roi = add(
        MavCmd.DO_SET_ROI_LOCATION,
        frame=FRAME_GLOBAL_RELATIVE_ALT_INT,
        x=_e7(poi.latitude_deg),
        y=_e7(poi.longitude_deg),
        z=0.0,
    )
    target_fields: dict[str, float | int] = {
        "frame": FRAME_GLOBAL_RELATIVE_ALT_INT,
        "param4": nan,
        "x": _e7(target.latitude_deg),
        "y": _e7(target.longitude_deg),
        "z": float(target.relative_altitude_m),
    }
    if on_scene_s is None:
        loiter = add(MavCmd.NAV_LOITER_UNLIM, **target_fields)
    else:
        loiter = add(MavCmd.NAV_LOITER_TIME, param1=float(on_scene_s), **target_fields)
    rtl = add(MavCmd.NAV_RETURN_TO_LAUNCH)
    return MissionPlan(
        params=build_params(route, profile, settings),
        mission=tuple(items),
        fence=build_fence(route.fence),
        takeoff_index=takeoff,
        first_waypoint_index=first_wp if turns else loiter,
        roi_index=roi,
        loiter_index=loiter,
        rtl_index=rtl,
        cruise_altitude_m=float(route.cruise_altitude_m),
        on_scene_s=on_scene_s,
    )


def build_fence(fence: Fence) -> tuple[MissionItem, ...]:
    """Fence items: every polygon as vertices (param1 = vertex count), then the circles.

    >>> from missions.route import Fence, FencePolygon
    >>> items = build_fence(Fence((FencePolygon(((0, 0), (0, 1), (1, 1)), True),)))
    >>> [(int(i.command), i.param1) for i in items][0]
    (5001, 3.0)
    """
    items: list[MissionItem] = []
    # Inclusion first: some autopilots evaluate the first polygon as the operating area.
    polygons = sorted(fence.polygons, key=lambda p: not p.inclusion)
    for polygon in polygons:
        if len(polygon.vertices) < 3:
            raise ValueError(f"a fence polygon needs 3 or more vertices, got {polygon.vertices}")
        command = (
            MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION
            if polygon.inclusion
            else MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        )
        for lat, lon in polygon.vertices:
            items.append(
                MissionItem(
                    seq=len(items),
                    command=command,
                    frame=FRAME_GLOBAL_INT,
                    param1=float(len(polygon.vertices)),
                    x=_e7(lat),
                    y=_e7(lon),
                    mission_type=MissionType.FENCE,
                )
            )
    for circle in fence.circles:
        items.append(
            MissionItem(
                seq=len(items),
                command=(
                    MavCmd.NAV_FENCE_CIRCLE_INCLUSION
                    if circle.inclusion
                    else MavCmd.NAV_FENCE_CIRCLE_EXCLUSION
                ),
                frame=FRAME_GLOBAL_INT,
                param1=float(circle.radius_m),
                x=_e7(circle.center.latitude_deg),
                y=_e7(circle.center.longitude_deg),
                mission_type=MissionType.FENCE,
            )
        )
    return tuple(items)


# Which fields carry meaning per command: an autopilot may return anything in the others
# (PX4 zeroes unused params and reports DO items in the MISSION frame).
_POSITION = ("frame", "x", "y", "z")
_SIGNIFICANT: dict[int, tuple[str, ...]] = {
    MavCmd.NAV_TAKEOFF: _POSITION,
    MavCmd.NAV_WAYPOINT: ("param1", "param2", *_POSITION),
    MavCmd.NAV_LOITER_UNLIM: _POSITION,
    MavCmd.NAV_LOITER_TIME: ("param1", *_POSITION),
    MavCmd.NAV_LAND: _POSITION,
    MavCmd.NAV_RETURN_TO_LAUNCH: (),
    MavCmd.DO_CHANGE_SPEED: ("param1", "param2"),
    MavCmd.DO_SET_ROI_LOCATION: ("x", "y", "z"),
    MavCmd.DO_SET_ROI_NONE: (),
    MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION: ("param1", "x", "y"),
    MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION: ("param1", "x", "y"),
    MavCmd.NAV_FENCE_CIRCLE_INCLUSION: ("param1", "x", "y"),
    MavCmd.NAV_FENCE_CIRCLE_EXCLUSION: ("param1", "x", "y"),
}
_ALL_FIELDS = ("frame", "param1", "param2", "param3", "param4", "x", "y", "z")
# MISSION_ITEM and MISSION_ITEM_INT name the same frames differently.
_FRAME_CLASS = {
    FRAME_GLOBAL: FRAME_GLOBAL,
    FRAME_GLOBAL_INT: FRAME_GLOBAL,
    FRAME_GLOBAL_RELATIVE_ALT: FRAME_GLOBAL_RELATIVE_ALT,
    FRAME_GLOBAL_RELATIVE_ALT_INT: FRAME_GLOBAL_RELATIVE_ALT,
}
#: Latitude/longitude tolerance: 1e-7 degree is one unit of the integer encoding.
LATLON_TOLERANCE_E7 = 1
ALTITUDE_TOLERANCE_M = 0.01


def item_differences(
    sent: Sequence[MissionItem], held: Sequence[MissionItem]
) -> tuple[Difference, ...]:
    """Compare uploaded items with items downloaded back; empty when they agree.

    Positions to 1e-7 degree, altitude to 0.01 m, params as float32 (NaN equals NaN).

    >>> a = MissionItem(0, MavCmd.NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT_INT, x=1, y=2, z=60.0)
    >>> item_differences([a], [a])
    ()
    >>> [str(d) for d in item_differences([a], [])]
    ['count: expected 1, got 0']
    """
    diffs: list[Difference] = []
    if len(sent) != len(held):
        diffs.append(Difference(None, "count", len(sent), len(held)))
    for mine, theirs in zip(sent, held, strict=False):
        if mine.command != theirs.command:
            diffs.append(Difference(mine.seq, "command", mine.command, theirs.command))
            continue
        if mine.mission_type != theirs.mission_type:
            diffs.append(
                Difference(mine.seq, "mission_type", mine.mission_type, theirs.mission_type)
            )
        for name in _SIGNIFICANT.get(mine.command, _ALL_FIELDS):
            expected, actual = getattr(mine, name), getattr(theirs, name)
            if not _field_equal(name, expected, actual):
                diffs.append(Difference(mine.seq, name, expected, actual))
    return tuple(diffs)


class ChecksumItem(Protocol):
    """What the checksum reads of an item (dfr's `MissionItem`, a simulator's own)."""

    @property
    def frame(self) -> int: ...
    @property
    def command(self) -> int: ...
    @property
    def autocontinue(self) -> bool | int: ...
    @property
    def param1(self) -> float: ...
    @property
    def param2(self) -> float: ...
    @property
    def param3(self) -> float: ...
    @property
    def param4(self) -> float: ...
    @property
    def x(self) -> int: ...
    @property
    def y(self) -> int: ...
    @property
    def z(self) -> float: ...


def transfer_checksum(items: Sequence[ChecksumItem]) -> int:
    """The CRC-32 a PX4 vehicle reports for a list it accepted (MISSION_ACK.opaque_id,
    MISSION_CURRENT.mission_id / fence_id): over each item's frame, command,
    autocontinue, params 1–4, x, y and z as sent in MISSION_ITEM_INT, little-endian
    and packed, with the table CRC started at 0 and not inverted. Equal checksums
    mean the vehicle holds exactly these items, without reading them back one by one.

    >>> transfer_checksum([])
    0
    >>> hex(transfer_checksum([MissionItem(0, MavCmd.NAV_RETURN_TO_LAUNCH)]))
    '0x8e23fa65'
    """
    crc = 0
    for item in items:
        packed = _CHECKSUM_ITEM.pack(
            int(item.frame),
            int(item.command),
            1 if item.autocontinue else 0,
            float(item.param1),
            float(item.param2),
            float(item.param3),
            float(item.param4),
            int(item.x),
            int(item.y),
            float(item.z),
        )
        # zlib inverts before and after; PX4's crc32part does neither.
        crc = ~zlib.crc32(packed, ~crc & 0xFFFFFFFF) & 0xFFFFFFFF
    return crc


_CHECKSUM_ITEM = struct.Struct("<BHB4fiif")


def param_differences(
    expected: Sequence[ParamSetting], actual: Mapping[str, float]
) -> tuple[Difference, ...]:
    """Parameters whose read-back value differs, or that the vehicle did not report."""
    diffs: list[Difference] = []
    for setting in expected:
        if setting.name not in actual:
            diffs.append(Difference(None, setting.name, setting.value, None))
        elif not setting.matches(actual[setting.name]):
            diffs.append(Difference(None, setting.name, setting.value, actual[setting.name]))
    return tuple(diffs)


def _field_equal(name: str, expected: float, actual: float) -> bool:
    if name == "frame":
        return _FRAME_CLASS.get(int(expected), int(expected)) == _FRAME_CLASS.get(
            int(actual), int(actual)
        )
    if name in ("x", "y"):
        return abs(int(expected) - int(actual)) <= LATLON_TOLERANCE_E7
    if name == "z":
        return abs(float(expected) - float(actual)) <= ALTITUDE_TOLERANCE_M
    return _float32_equal(expected, actual)


def _float32_equal(a: float, b: float) -> bool:
    a32, b32 = _to_float32(a), _to_float32(b)
    if math.isnan(a32) or math.isnan(b32):
        return math.isnan(a32) and math.isnan(b32)
    return a32 == b32 or math.isclose(a32, b32, rel_tol=1.2e-7, abs_tol=1e-9)


def _to_float32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", float(value)))[0])


def _e7(degrees: float) -> int:
    return int(round(degrees * DEG_E7))


def _takeoff_altitude_m(route: Route, settings: FlightSettings) -> float:
    return float(min(settings.takeoff_altitude_m, route.cruise_altitude_m))
