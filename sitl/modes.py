"""PX4 flight modes and landed states as they appear on the wire.

PX4 packs its mode into HEARTBEAT.custom_mode: main mode in bits 16-23, sub mode
in bits 24-31. MAVSDK decodes exactly this to its `FlightMode`.

>>> FlightMode.HOLD.custom_mode == 0x03040000
True
>>> FlightMode.from_custom(main_mode=4, sub_mode=4)
<FlightMode.MISSION: (4, 4)>
"""

from __future__ import annotations

import enum

from pymavlink.dialects.v20 import common as mavlink

MAIN_MANUAL, MAIN_ALTCTL, MAIN_POSCTL, MAIN_AUTO, MAIN_ACRO, MAIN_OFFBOARD = 1, 2, 3, 4, 5, 6
MAIN_STABILIZED = 7
SUB_AUTO_READY, SUB_AUTO_TAKEOFF, SUB_AUTO_LOITER, SUB_AUTO_MISSION = 1, 2, 3, 4
SUB_AUTO_RTL, SUB_AUTO_LAND = 5, 6
SUB_POSCTL_ORBIT = 1


class FlightMode(enum.Enum):
    """A PX4 navigation state, valued (main mode, sub mode)."""

    MANUAL = (MAIN_MANUAL, 0)
    ALTCTL = (MAIN_ALTCTL, 0)
    POSCTL = (MAIN_POSCTL, 0)
    ORBIT = (MAIN_POSCTL, SUB_POSCTL_ORBIT)
    STABILIZED = (MAIN_STABILIZED, 0)
    ACRO = (MAIN_ACRO, 0)
    READY = (MAIN_AUTO, SUB_AUTO_READY)
    TAKEOFF = (MAIN_AUTO, SUB_AUTO_TAKEOFF)
    HOLD = (MAIN_AUTO, SUB_AUTO_LOITER)
    MISSION = (MAIN_AUTO, SUB_AUTO_MISSION)
    RTL = (MAIN_AUTO, SUB_AUTO_RTL)
    LAND = (MAIN_AUTO, SUB_AUTO_LAND)
    OFFBOARD = (MAIN_OFFBOARD, 0)

    @property
    def main_mode(self) -> int:
        return self.value[0]

    @property
    def sub_mode(self) -> int:
        return self.value[1]

    @property
    def custom_mode(self) -> int:
        return (self.main_mode << 16) | (self.sub_mode << 24)

    @property
    def is_auto(self) -> bool:
        return self.main_mode == MAIN_AUTO

    @property
    def needs_global_position(self) -> bool:
        """PX4 refuses these modes without a position estimate (LAND can descend blind)."""
        if self is FlightMode.LAND:
            return False
        return self.is_auto or self in (FlightMode.POSCTL, FlightMode.ORBIT)

    def base_mode(self, armed: bool) -> int:
        """HEARTBEAT.base_mode as PX4 fills it (custom-mode flag plus the mode's flags)."""
        flags = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        if self.is_auto:
            flags |= (
                mavlink.MAV_MODE_FLAG_AUTO_ENABLED
                | mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
                | mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED
            )
        elif self is FlightMode.OFFBOARD:
            flags |= mavlink.MAV_MODE_FLAG_GUIDED_ENABLED | mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED
        else:
            flags |= mavlink.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED
            if self is not FlightMode.MANUAL and self is not FlightMode.ACRO:
                flags |= mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED
            if self in (FlightMode.POSCTL, FlightMode.ORBIT):
                flags |= mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
        if armed:
            flags |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
        return flags

    @classmethod
    def from_custom(cls, main_mode: int, sub_mode: int) -> FlightMode | None:
        """The mode a DO_SET_MODE asks for, or None when PX4 has no such mode.

        PX4 accepts AUTO without a sub mode as MISSION and ignores sub modes of
        the manual main modes.
        """
        if main_mode == MAIN_AUTO and sub_mode == 0:
            return cls.MISSION
        if main_mode != MAIN_AUTO and main_mode != MAIN_POSCTL:
            sub_mode = 0
        try:
            return cls((main_mode, sub_mode))
        except ValueError:
            return None


class LandedState(enum.IntEnum):
    """EXTENDED_SYS_STATE.landed_state (MAV_LANDED_STATE)."""

    UNDEFINED = mavlink.MAV_LANDED_STATE_UNDEFINED
    ON_GROUND = mavlink.MAV_LANDED_STATE_ON_GROUND
    IN_AIR = mavlink.MAV_LANDED_STATE_IN_AIR
    TAKEOFF = mavlink.MAV_LANDED_STATE_TAKEOFF
    LANDING = mavlink.MAV_LANDED_STATE_LANDING
