"""Mission, fence and rally items as the vehicle stores them (MISSION_ITEM_INT fields).

Items are kept exactly as uploaded so a download returns them unchanged; helpers
read positions and altitudes in the item's frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pymavlink.dialects.v20 import common as mavlink

MISSION = mavlink.MAV_MISSION_TYPE_MISSION
FENCE = mavlink.MAV_MISSION_TYPE_FENCE
RALLY = mavlink.MAV_MISSION_TYPE_RALLY
ALL_TYPES = mavlink.MAV_MISSION_TYPE_ALL
MISSION_TYPES = (MISSION, FENCE, RALLY)

NAV_WAYPOINT = mavlink.MAV_CMD_NAV_WAYPOINT
NAV_LOITER_UNLIM = mavlink.MAV_CMD_NAV_LOITER_UNLIM
NAV_LOITER_TIME = mavlink.MAV_CMD_NAV_LOITER_TIME
NAV_RETURN_TO_LAUNCH = mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH
NAV_LAND = mavlink.MAV_CMD_NAV_LAND
NAV_TAKEOFF = mavlink.MAV_CMD_NAV_TAKEOFF
DO_CHANGE_SPEED = mavlink.MAV_CMD_DO_CHANGE_SPEED
DO_SET_ROI_LOCATION = mavlink.MAV_CMD_DO_SET_ROI_LOCATION
DO_SET_ROI_NONE = mavlink.MAV_CMD_DO_SET_ROI_NONE
DO_JUMP = mavlink.MAV_CMD_DO_JUMP
FENCE_POLYGON_INCLUSION = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
FENCE_POLYGON_EXCLUSION = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
FENCE_CIRCLE_INCLUSION = mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
FENCE_CIRCLE_EXCLUSION = mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION
FENCE_RETURN_POINT = mavlink.MAV_CMD_NAV_FENCE_RETURN_POINT
RALLY_POINT = mavlink.MAV_CMD_NAV_RALLY_POINT

# Commands the mission executor flies to a position.
NAV_POSITION_COMMANDS = frozenset(
    {NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TIME, NAV_LAND, NAV_TAKEOFF}
)
# As PX4 takes them: commands with a position in a global frame, the others in
# MAV_FRAME_MISSION; a command in the other kind of frame is UNSUPPORTED.
GLOBAL_FRAME_COMMANDS = NAV_POSITION_COMMANDS | {DO_SET_ROI_LOCATION}
MISSION_FRAME_COMMANDS = frozenset(
    {
        NAV_RETURN_TO_LAUNCH,
        DO_CHANGE_SPEED,
        DO_SET_ROI_NONE,
        DO_JUMP,
        mavlink.MAV_CMD_DO_MOUNT_CONTROL,
        mavlink.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW,
        mavlink.MAV_CMD_IMAGE_START_CAPTURE,
        mavlink.MAV_CMD_IMAGE_STOP_CAPTURE,
        mavlink.MAV_CMD_VIDEO_START_CAPTURE,
        mavlink.MAV_CMD_VIDEO_STOP_CAPTURE,
        mavlink.MAV_CMD_DO_DIGICAM_CONTROL,
    }
)
MISSION_COMMANDS = GLOBAL_FRAME_COMMANDS | MISSION_FRAME_COMMANDS
FENCE_COMMANDS = frozenset(
    {
        FENCE_POLYGON_INCLUSION,
        FENCE_POLYGON_EXCLUSION,
        FENCE_CIRCLE_INCLUSION,
        FENCE_CIRCLE_EXCLUSION,
        FENCE_RETURN_POINT,
    }
)

RELATIVE_FRAMES = frozenset(
    {
        mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT,
        mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
    }
)
AMSL_FRAMES = frozenset({mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_FRAME_GLOBAL_INT})
GLOBAL_FRAMES = RELATIVE_FRAMES | AMSL_FRAMES
MISSION_FRAME = mavlink.MAV_FRAME_MISSION


@dataclass(frozen=True, slots=True)
class MissionItem:
    """One MISSION_ITEM_INT, latitude/longitude in degE7 (x, y) as on the wire."""

    seq: int
    frame: int
    command: int
    current: int
    autocontinue: int
    param1: float
    param2: float
    param3: float
    param4: float
    x: int
    y: int
    z: float
    mission_type: int = MISSION

    @property
    def latitude_deg(self) -> float:
        return self.x * 1e-7

    @property
    def longitude_deg(self) -> float:
        return self.y * 1e-7

    @property
    def has_position(self) -> bool:
        """False when lat/lon are 0 (PX4: "use the current position")."""
        return not (self.x == 0 and self.y == 0)

    def relative_altitude_m(self, home_alt_amsl_m: float) -> float | None:
        """Altitude above home, or None when the item's altitude is not usable."""
        if not math.isfinite(self.z):
            return None
        if self.frame in RELATIVE_FRAMES:
            return self.z
        if self.frame in AMSL_FRAMES:
            return self.z - home_alt_amsl_m
        return None

    @classmethod
    def from_message(cls, msg: object, seq: int | None = None) -> MissionItem:
        """From a MISSION_ITEM_INT, or a float MISSION_ITEM (converted to degE7)."""
        x, y = msg.x, msg.y  # type: ignore[attr-defined]
        if msg.get_type() == "MISSION_ITEM":  # type: ignore[attr-defined]
            x, y = round(x * 1e7), round(y * 1e7)
        return cls(
            seq=msg.seq if seq is None else seq,  # type: ignore[attr-defined]
            frame=msg.frame,  # type: ignore[attr-defined]
            command=msg.command,  # type: ignore[attr-defined]
            current=msg.current,  # type: ignore[attr-defined]
            autocontinue=msg.autocontinue,  # type: ignore[attr-defined]
            param1=msg.param1,  # type: ignore[attr-defined]
            param2=msg.param2,  # type: ignore[attr-defined]
            param3=msg.param3,  # type: ignore[attr-defined]
            param4=msg.param4,  # type: ignore[attr-defined]
            x=int(x),
            y=int(y),
            z=msg.z,  # type: ignore[attr-defined]
            mission_type=getattr(msg, "mission_type", MISSION),
        )


def check_item(item: MissionItem) -> int:
    """MAV_MISSION_RESULT for one uploaded item (PX4 validates frame and command)."""
    if item.mission_type == FENCE:
        if item.command not in FENCE_COMMANDS:
            return mavlink.MAV_MISSION_UNSUPPORTED
        if item.frame not in GLOBAL_FRAMES:
            return mavlink.MAV_MISSION_UNSUPPORTED_FRAME
        return mavlink.MAV_MISSION_ACCEPTED
    if item.mission_type == RALLY:
        if item.command != RALLY_POINT:
            return mavlink.MAV_MISSION_UNSUPPORTED
        return mavlink.MAV_MISSION_ACCEPTED
    if item.frame in GLOBAL_FRAMES:
        known = item.command in GLOBAL_FRAME_COMMANDS
    elif item.frame == MISSION_FRAME:
        known = item.command in MISSION_FRAME_COMMANDS
    else:
        return mavlink.MAV_MISSION_UNSUPPORTED_FRAME
    return mavlink.MAV_MISSION_ACCEPTED if known else mavlink.MAV_MISSION_UNSUPPORTED
