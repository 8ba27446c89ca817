"""The vehicle's parameter table: PX4's names, types and defaults.

PX4 types every parameter as INT32 or REAL32 and, over MAVLink, sends an INT32
"bytewise": the four bytes of the integer travel in PARAM_VALUE.param_value's float
(MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE). MAVSDK's param plugin checks the
type, so `get_param_int("GF_ACTION")` works and `get_param_float("GF_ACTION")` fails,
as against PX4.

>>> table = ParamTable()
>>> table.get("MPC_XY_CRUISE"), table.get("GF_ACTION")
(5.0, 2)
>>> table.decode_wire("GF_ACTION", table.encode_wire("GF_ACTION"), INT32)
2
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping

from pymavlink.dialects.v20 import common as mavlink

from sitl.errors import ParamError

INT32 = mavlink.MAV_PARAM_TYPE_INT32
REAL32 = mavlink.MAV_PARAM_TYPE_REAL32

# name: (default, type). Defaults as PX4 SITL (SIH quadrotor) boots with them.
PX4_DEFAULTS: dict[str, tuple[float | int, int]] = {
    # multicopter position control
    "MPC_XY_CRUISE": (5.0, REAL32),
    "MPC_XY_VEL_MAX": (12.0, REAL32),
    "MPC_ACC_HOR": (3.0, REAL32),
    "MPC_ACC_HOR_MAX": (5.0, REAL32),
    "MPC_ACC_UP_MAX": (4.0, REAL32),
    "MPC_ACC_DOWN_MAX": (3.0, REAL32),
    "MPC_JERK_AUTO": (4.0, REAL32),
    "MPC_XY_TRAJ_P": (0.5, REAL32),
    "MPC_Z_TRAJ_P": (0.3, REAL32),
    "MPC_Z_VEL_MAX_UP": (3.0, REAL32),
    "MPC_Z_V_AUTO_UP": (3.0, REAL32),
    "MPC_Z_VEL_MAX_DN": (1.5, REAL32),
    "MPC_Z_V_AUTO_DN": (1.5, REAL32),
    "MPC_TKO_SPEED": (1.5, REAL32),
    "MPC_TKO_RAMP_T": (3.0, REAL32),
    "MPC_Z_VEL_P_ACC": (4.0, REAL32),
    "MPC_LAND_SPEED": (0.7, REAL32),
    "MPC_LAND_CRWL": (0.3, REAL32),
    "MPC_LAND_ALT1": (10.0, REAL32),
    "MPC_LAND_ALT2": (5.0, REAL32),
    "MPC_LAND_ALT3": (1.0, REAL32),
    "MPC_YAWRAUTO_MAX": (60.0, REAL32),
    "MPC_YAWRAUTO_ACC": (20.0, REAL32),
    "MPC_YAW_MODE": (0, INT32),
    "MPC_TILTMAX_AIR": (45.0, REAL32),
    # navigator: mission, RTL, geofence
    "MIS_TAKEOFF_ALT": (2.5, REAL32),
    "NAV_ACC_RAD": (10.0, REAL32),
    "NAV_MC_ALT_RAD": (0.8, REAL32),
    "RTL_RETURN_ALT": (30.0, REAL32),
    "RTL_DESCEND_ALT": (30.0, REAL32),
    "RTL_LAND_DELAY": (0.0, REAL32),
    "RTL_TYPE": (0, INT32),
    "GF_ACTION": (2, INT32),
    "GF_PREDICT": (0, INT32),
    "GF_SOURCE": (0, INT32),
    "GF_COUNT": (-1, INT32),
    "GF_MAX_HOR_DIST": (0.0, REAL32),
    "GF_MAX_VER_DIST": (0.0, REAL32),
    # commander: failsafes, arming
    "NAV_DLL_ACT": (0, INT32),
    "NAV_RCL_ACT": (2, INT32),
    "COM_DL_LOSS_T": (10, INT32),
    "COM_RC_LOSS_T": (0.5, REAL32),
    "COM_RC_IN_MODE": (1, INT32),
    "COM_DISARM_PRELAND": (10.0, REAL32),
    "COM_DISARM_LAND": (2.0, REAL32),
    "COM_SPOOLUP_TIME": (1.0, REAL32),
    "COM_FAIL_ACT_T": (5.0, REAL32),
    "COM_LOW_BAT_ACT": (0, INT32),
    "COM_ARM_WO_GPS": (1, INT32),
    "COM_POS_FS_DELAY": (1, INT32),
    "COM_HOME_EN": (1, INT32),
    "BAT_LOW_THR": (0.15, REAL32),
    "BAT_CRIT_THR": (0.07, REAL32),
    "BAT_EMERGEN_THR": (0.05, REAL32),
    "BAT1_N_CELLS": (4, INT32),
    # system
    "SYS_AUTOSTART": (10040, INT32),
    "SYS_HITL": (0, INT32),
    "MAV_SYS_ID": (1, INT32),
    "MAV_COMP_ID": (1, INT32),
    "MAV_TYPE": (mavlink.MAV_TYPE_QUADROTOR, INT32),
    "EKF2_NOAID_TOUT": (5000000, INT32),
}


def float_bits_to_int(value: float) -> int:
    """Undo PX4's bytewise int32-in-float encoding."""
    return struct.unpack("<i", struct.pack("<f", value))[0]


def int_to_float_bits(value: int) -> float:
    """The float whose four bytes are `value`'s, as PX4 sends an INT32 parameter."""
    return struct.unpack("<f", struct.pack("<i", value))[0]


class ParamTable:
    """Named, typed parameters with PX4's defaults and stable PX4-like indices."""

    def __init__(self, overrides: Mapping[str, float] | None = None) -> None:
        self._types = {name: kind for name, (_, kind) in PX4_DEFAULTS.items()}
        self._values: dict[str, float | int] = {
            name: int(default) if kind == INT32 else float(default)
            for name, (default, kind) in PX4_DEFAULTS.items()
        }
        # PX4 lists parameters alphabetically; the index is the position in that list.
        self._names = sorted(self._values)
        self._index = {name: i for i, name in enumerate(self._names)}
        for name, value in (overrides or {}).items():
            self.set(name, value)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __len__(self) -> int:
        return len(self._names)

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def get(self, name: str) -> float | int:
        return self._values[name]

    def type_of(self, name: str) -> int:
        return self._types[name]

    def index_of(self, name: str) -> int:
        return self._index[name]

    def name_at(self, index: int) -> str | None:
        return self._names[index] if 0 <= index < len(self._names) else None

    def set(self, name: str, value: float) -> float | int:
        """Set `name`; ints are rounded for INT32 parameters. Raises ParamError."""
        if name not in self._values:
            raise ParamError(f"no parameter {name!r}")
        if not math.isfinite(value):
            raise ParamError(f"{name} must be finite, got {value}")
        stored: float | int = int(round(value)) if self._types[name] == INT32 else float(value)
        self._values[name] = stored
        return stored

    def encode_wire(self, name: str) -> float:
        """PARAM_VALUE.param_value for `name` (bytewise for INT32)."""
        value = self._values[name]
        return int_to_float_bits(int(value)) if self._types[name] == INT32 else float(value)

    def decode_wire(self, name: str, wire_value: float, wire_type: int) -> float | int:
        """The value a PARAM_SET carries. Raises ParamError on a type mismatch."""
        if name not in self._types:
            raise ParamError(f"no parameter {name!r}")
        if wire_type != self._types[name]:
            raise ParamError(f"{name} is type {self._types[name]}, PARAM_SET sent {wire_type}")
        return float_bits_to_int(wire_value) if wire_type == INT32 else float(wire_value)
