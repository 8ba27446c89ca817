"""Return to launch, PX4 style (RTL_TYPE 0): climb, return, (descend,) land at home.

Phases: climb to RTL_RETURN_ALT above home if lower (at the current position), fly
home at that altitude and MPC_XY_CRUISE (a leg, as in a mission), then land. Only with
an RTL_LAND_DELAY does a multicopter first descend to RTL_DESCEND_ALT and wait there
that long (negative: loiter there for good); without one it lands straight from the
return altitude, as PX4 does.
"""

from __future__ import annotations

import enum
import math

from pymavlink.dialects.v20 import common as mavlink

from sitl.link import Outbox
from sitl.navigator import Goal, Navigator
from sitl.params import ParamTable
from sitl.physics import MotionCommand, Multirotor


class RtlPhase(enum.Enum):
    CLIMB = "climb"
    RETURN = "return"
    DESCEND = "descend"
    LOITER = "loiter"
    LAND = "land"


class ReturnToLaunch:
    """The RTL state machine; `command` is called once per step while in RTL mode."""

    def __init__(
        self,
        params: ParamTable,
        airframe: Multirotor,
        navigator: Navigator,
        outbox: Outbox,
        origin_alt_amsl_m: float,
    ) -> None:
        self._origin_alt_amsl_m = origin_alt_amsl_m
        self._params = params
        self._airframe = airframe
        self._nav = navigator
        self._out = outbox
        self.phase = RtlPhase.CLIMB
        self._return_z_m = 0.0
        self._loiter_since_s: float | None = None
        self._leg_pending = True

    @property
    def landing(self) -> bool:
        return self.phase is RtlPhase.LAND

    def start(self) -> None:
        a, home = self._airframe, self._nav.home
        rel_alt = a.z_m - home[2]
        return_alt = float(self._params.get("RTL_RETURN_ALT"))
        self._return_z_m = home[2] + max(rel_alt, return_alt)
        self._loiter_since_s = None
        self._leg_pending = True
        self.phase = RtlPhase.CLIMB if rel_alt < return_alt else RtlPhase.RETURN
        self._nav.hold_here()
        self._nav.goal.z_m = self._return_z_m
        rel = self._return_z_m - home[2]
        self._out.send_text(
            mavlink.MAV_SEVERITY_INFO,
            f"RTL: start return at {self._return_z_m + self._origin_alt_amsl_m:.0f} m"
            f" ({rel:.0f} m above destination)\t",
        )

    def command(self, now_s: float) -> MotionCommand:
        a, nav, home = self._airframe, self._nav, self._nav.home
        p = self._params
        if self.phase is RtlPhase.CLIMB:
            if a.z_m >= self._return_z_m - float(p.get("NAV_MC_ALT_RAD")):
                self.phase = RtlPhase.RETURN
            else:
                return nav.hold_command()
        if self.phase is RtlPhase.RETURN:
            acceptance = float(p.get("NAV_ACC_RAD"))
            distance = math.hypot(home[0] - a.x_m, home[1] - a.y_m)
            if distance < acceptance and a.ground_speed_m_s < 1.0:
                if abs(float(p.get("RTL_LAND_DELAY"))) > 0.0:
                    self.phase = RtlPhase.DESCEND
                    descend_z = home[2] + float(p.get("RTL_DESCEND_ALT"))
                    nav.hold_at(home[0], home[1], min(a.z_m, descend_z))
                else:
                    self._land_now()
                    return nav.land_command()
            else:
                if self._leg_pending:
                    self._leg_pending = False
                    nav.reposition(Goal(home[0], home[1], self._return_z_m))
                return nav.leg_command(acceptance)
        if self.phase is RtlPhase.DESCEND:
            if abs(a.z_m - nav.goal.z_m) < float(p.get("NAV_MC_ALT_RAD")):
                self.phase = RtlPhase.LOITER
                self._loiter_since_s = now_s
            else:
                return nav.hold_command()
        if self.phase is RtlPhase.LOITER:
            delay = float(p.get("RTL_LAND_DELAY"))
            since = self._loiter_since_s if self._loiter_since_s is not None else now_s
            if delay < 0 or now_s - since < delay:
                return nav.hold_command()
            self._land_now()
        return nav.land_command()

    def _land_now(self) -> None:
        home = self._nav.home
        self.phase = RtlPhase.LAND
        self._nav.land_xy = (home[0], home[1])
        self._out.send_text(mavlink.MAV_SEVERITY_INFO, "RTL: land at destination\t")
